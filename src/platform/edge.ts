import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { AppError } from "./errors.ts";

/**
 * Request hygiene at the very edge of every listener (public gateway, services, ops port): what a request
 * must look like before routing, token checks, rate limits and maintenance see it. Runs on the raw Node
 * request, once, before Fastify routes it; see docs/gateway.md, "Request hygiene".
 */

/** Limits every listener applies (HTTP_* variables, docs/configuration.md). */
export interface ListenerLimits {
  /** The whole header block, request line included: over it → 431 headers_too_large. */
  maxHeaderBytes: number;
  /** Header fields per request: over it → 431 headers_too_large. */
  maxHeaderCount: number;
  /** The header block must have arrived within this (then → 408, connection closed). */
  headersTimeoutMs: number;
  /** The whole request, body included, must have arrived within this (then → 408, connection closed). */
  requestTimeoutMs: number;
}

export const defaultListenerLimits: ListenerLimits = {
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
};

/** Browser origins allowed to call the API cross-origin (CORS_ORIGINS); empty means CORS is not served. */
export interface CorsPolicy {
  origins: readonly string[];
}

/** Where an edge verdict sends the request inside the app: internal routes, see http.ts. */
export const EDGE_REJECTED_PATH = "/-/edge-rejected";
export const PREFLIGHT_PATH = "/-/preflight";

/** The verdict on a request that did not pass, read by the internal route that answers it. */
const rejections = new WeakMap<IncomingMessage, AppError>();
export const rejectionOf = (request: IncomingMessage): AppError | undefined => rejections.get(request);

/**
 * The path a request sent to an internal route asked for (query left out): canonical when it has one, as
 * sent otherwise (credentials of an absolute-form target left out, cut at 1,024 characters). Its access line and metrics name the route this path would have
 * reached, not the internal route (http.ts).
 */
const askedPaths = new WeakMap<IncomingMessage, { path: string; canonical: boolean }>();
export const askedPathOf = (request: IncomingMessage) => askedPaths.get(request);
const withoutQuery = (url: string) => {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
};
/**
 * The credentials of an absolute-form target (`GET http://user:password@host/…`, which Node's parser lets
 * through and the edge refuses as not a path): everything up to the last `@` before the first slash, taken
 * before the query is cut off, so a `?` or `#` inside a password hides nothing (an `@` in the query of a
 * target without userinfo is redacted with it: more than needed, never less).
 */
const userinfo = /^([A-Za-z][A-Za-z0-9+.-]*:[/\\]*)[^/\\]*@/;
const withoutUserinfo = (url: string) => url.replace(userinfo, "$1[redacted]@");

const invalidPath = () => new AppError("invalid_request", "The request path is not valid: no dot segments, encoded slashes, backslashes or control characters.");

/** Anything in a path that the canonical form would change: upper case, escapes, `//`, dot segments, a trailing slash. */
const needsNormalising = /[A-Z%\\]|\/\/|\/\.\.?(?:\/|$)|.\/$/;
const unreserved = /[A-Za-z0-9\-._~]/;

/**
 * The one canonical form of a request path, so that no spelling of a path reaches a different rule than
 * the path itself: ASCII lower case (every route is lower case and ids are UUIDs), percent-escapes of
 * unreserved characters decoded (`%6D` is `m`), the rest with upper-case hex, `//` collapsed, no trailing
 * slash. What has no safe reading is refused: a `.` or `..` segment, raw or encoded (`%2e%2e`), an encoded
 * slash or backslash (`%2F`, `%5C`), a raw backslash, an encoded control character, a broken escape. The
 * query string is left as it is. Returns the URL to route, or an AppError.
 */
export function normalisePath(url: string): string | AppError {
  const query = url.indexOf("?");
  const path = query === -1 ? url : url.slice(0, query);
  if (!needsNormalising.test(path)) return url;
  if (path[0] !== "/" || path.includes("\\")) return invalidPath();
  let refused = false;
  const decoded = path
    .replace(/[A-Z]+/g, (letters) => letters.toLowerCase())
    .replace(/%([0-9a-fA-F]{2})?/g, (_escape, hex: string | undefined) => {
      if (hex === undefined) {
        refused = true;
        return "";
      }
      const code = Number.parseInt(hex, 16);
      const char = String.fromCharCode(code);
      if (unreserved.test(char)) return char.toLowerCase();
      if (code === 0x2f || code === 0x5c || code < 0x20 || code === 0x7f) refused = true;
      return `%${hex.toUpperCase()}`;
    });
  if (refused) return invalidPath();
  const segments: string[] = [];
  for (const segment of decoded.split("/")) {
    // Browsers and HTTP clients resolve dot segments before sending: one that arrives is an attempt to
    // reach a path other than the one written, and is refused rather than resolved into another route.
    if (segment === "." || segment === "..") return invalidPath();
    if (segment !== "") segments.push(segment);
  }
  return `/${segments.join("/")}${query === -1 ? "" : url.slice(query)}`;
}

/** Host exactly once, header count within the limit: what the request line and header block must satisfy. */
function headerProblem(request: IncomingMessage, limits: ListenerLimits): AppError | undefined {
  const raw = request.rawHeaders;
  // Node stops parsing fields past maxHeadersCount (set to the limit + 1 below): one more than the limit is over it.
  if (raw.length / 2 > limits.maxHeaderCount) return new AppError("headers_too_large", `The request has more than ${limits.maxHeaderCount} header fields.`);
  let hosts = 0;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    if (name.length === 4 && name.toLowerCase() === "host") hosts++;
  }
  if (hosts !== 1) return new AppError("invalid_request", hosts === 0 ? "The request has no Host header." : "The request has more than one Host header.");
  return undefined;
}

/** The origin of the request itself (scheme aside), which a same-origin browser call names in Origin. */
function isOwnOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * CORS from CORS_ORIGINS: a preflight from an allowed origin is answered at the edge (PREFLIGHT_PATH); a
 * preflight or a request from any other origin is refused (403) before it reaches a route, unless it is the
 * API's own origin. Without CORS_ORIGINS nothing is checked and no CORS header is sent.
 */
function corsVerdict(request: IncomingMessage, cors: CorsPolicy | undefined): "preflight" | AppError | undefined {
  const origin = request.headers.origin;
  if (!cors || cors.origins.length === 0 || origin === undefined) return undefined;
  const allowed = cors.origins.includes(origin);
  if (request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined) {
    return allowed ? "preflight" : new AppError("forbidden", "This origin may not call the API (CORS_ORIGINS).");
  }
  if (allowed || isOwnOrigin(origin, request.headers.host)) return undefined;
  return new AppError("forbidden", "This origin may not call the API (CORS_ORIGINS).");
}

/**
 * Checks and rewrites one raw request in place: its URL becomes the canonical path, or an internal path
 * whose route answers the verdict in the one error shape (with request id, access line and metrics like
 * any answer). Cheap on a well-formed request: one regex test on the path and one pass over the raw headers.
 */
export function applyEdgeRules(request: IncomingMessage, limits: ListenerLimits, cors: CorsPolicy | undefined): void {
  const problem = headerProblem(request, limits);
  const url = normalisePath(request.url ?? "/");
  const verdict = problem ?? (typeof url === "string" ? corsVerdict(request, cors) : url);
  if (verdict === undefined) {
    request.url = url as string;
    return;
  }
  askedPaths.set(request, typeof url === "string" ? { path: withoutQuery(url), canonical: true } : { path: withoutQuery(withoutUserinfo(request.url ?? "/")).slice(0, 1024), canonical: false });
  if (verdict === "preflight") {
    request.url = PREFLIGHT_PATH;
  } else {
    rejections.set(request, verdict);
    request.url = EDGE_REJECTED_PATH;
  }
}

/** Refuses a request at the edge after the edge rules let it pass (an expectation other than 100-continue). */
function reject(request: IncomingMessage, verdict: AppError): void {
  if (!askedPaths.has(request)) askedPaths.set(request, { path: withoutQuery(request.url ?? "/"), canonical: true });
  rejections.set(request, verdict);
  request.url = EDGE_REJECTED_PATH;
}

/**
 * The listener behind a Fastify app (its serverFactory): header limits, request and body timeouts, and the
 * edge rules before Fastify sees a request. `Expect: 100-continue` is answered here, after the edge rules:
 * a request they refuse gets its final answer instead of 100 Continue (and its body is never read); the
 * expectation is not passed on (upstream.ts drops the header). Any other expectation → 417.
 */
export function createEdgeServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  limits: ListenerLimits,
  cors: CorsPolicy | undefined,
): http.Server {
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const server = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node looks for requests past their timeouts: the timeouts hold to within this.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeout / 4))),
      // Host is checked in headerProblem, so that its absence is answered in the one error shape.
      requireHostHeader: false,
    },
    (request, response) => {
      applyEdgeRules(request, limits, cors);
      handler(request, response);
    },
  );
  server.maxHeadersCount = limits.maxHeaderCount + 1;
  server.keepAliveTimeout = 72_000; // Fastify's default, which it sets only on servers it creates itself
  server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => {
    applyEdgeRules(request, limits, cors);
    if (request.url !== EDGE_REJECTED_PATH) response.writeContinue();
    // The body a refused client may still send is not read: the answer closes the connection.
    else response.shouldKeepAlive = false;
    handler(request, response);
  });
  server.on("checkExpectation", (request: IncomingMessage, response: ServerResponse) => {
    applyEdgeRules(request, limits, cors);
    if (request.url !== EDGE_REJECTED_PATH) reject(request, new AppError("expectation_failed", "Only Expect: 100-continue is supported."));
    response.shouldKeepAlive = false;
    handler(request, response);
  });
  return server;
}
