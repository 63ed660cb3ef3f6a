import { randomUUID } from "node:crypto";
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import net from "node:net";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { z } from "zod";
import { accessLineWriter } from "./access-line.ts";
import { AppError, errorBody, toAppError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import { askedPathOf, createEdgeServer, defaultListenerLimits, EDGE_REJECTED_PATH, PREFLIGHT_PATH, rejectionOf, type CorsPolicy, type ListenerLimits } from "./edge.ts";

/**
 * Who a request was verified to come from, for its access line (set where the token is verified): a field
 * every request of createHttpApp's apps is born with (decorateRequest), not a WeakMap entry per request,
 * which was a measurable cost on the gateway's path (docs/adr/0510).
 */
const CALLER_FIELD = "azoraCaller";
type WithCaller = { [CALLER_FIELD]?: { sub: string; jti: string } | null };

/**
 * Records the verified caller of a request: its access line then carries `user` (the user id) and
 * `tokenId` (the access token's jti, never the token), which the leak detector counts per user and per token.
 */
export function noteCaller(request: object, claims: { sub: string; jti: string }): void {
  (request as unknown as WithCaller)[CALLER_FIELD] = claims;
}

/** The caller noteCaller recorded for a request (or a pass-through lane's exchange), if any. */
export const callerOf = (request: object) => (request as unknown as WithCaller)[CALLER_FIELD] ?? undefined;

const wellFormedRequestId = /^[A-Za-z0-9._:-]{8,128}$/;
const methodsWithBody = new Set(["POST", "PUT", "PATCH"]);

export interface HttpAppOptions {
  service: string;
  /** Bound by the caller (`logger.child({ service })`): lines take `service` from it, so it is not repeated in them. */
  logger: Logger;
  metrics: Metrics;
  bodyLimit: number;
  /** Records requests in http_requests_total and http_request_duration_seconds; off for the ops listener. */
  recordMetrics?: boolean;
  /** Writes one access line per request; by default as recordMetrics (off for the ops listener). */
  accessLog?: boolean;
  /** Hops whose X-Forwarded-For is believed when taking the client IP. */
  trustProxy?: string[];
  /** Sends Strict-Transport-Security on answers to requests that arrived over TLS (X-Forwarded-Proto from a trusted proxy). */
  hsts?: boolean;
  /** Header limits and request/body timeouts of the listener (edge.ts); the defaults when absent. */
  limits?: ListenerLimits;
  /** Cross-origin browser calls (CORS_ORIGINS): only the public gateway serves them. */
  cors?: CorsPolicy;
}

/** What a preflight may ask for, and which answer headers a cross-origin script may read. */
const CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE";
const CORS_ALLOW_HEADERS = "Authorization, Content-Type, X-Request-Id";
const CORS_EXPOSE_HEADERS = "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy";
const CORS_MAX_AGE_SECONDS = "600";

/** HSTS for a year, subdomains included, once a request is known to have come over HTTPS. */
const HSTS = "max-age=31536000; includeSubDomains";

/** The request id of a request: the caller's X-Request-Id when it is well formed, a fresh UUID otherwise. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers["x-request-id"];
  return typeof given === "string" && wellFormedRequestId.test(given) ? given : randomUUID();
}

/**
 * The headers every answer of an app carries, whoever answers (the onSend hook, or a pass-through lane):
 * the request id, no MIME sniffing of JSON into HTML, no URL of ours in a Referer, HSTS over HTTPS, the
 * connection closed while draining, and the CORS headers for an allowed origin.
 */
function addHouseHeaders(
  answer: { header(name: string, value: string): unknown },
  requestId: string,
  origin: string | undefined,
  https: boolean,
  state: { hsts: boolean; draining: boolean; cors: CorsPolicy | undefined },
): void {
  answer.header("x-request-id", requestId);
  answer.header("x-content-type-options", "nosniff");
  answer.header("referrer-policy", "no-referrer");
  if (state.hsts && https) answer.header("strict-transport-security", HSTS);
  if (state.draining) answer.header("connection", "close");
  if (state.cors) {
    answer.header("vary", "Origin");
    if (origin !== undefined && state.cors.origins.includes(origin)) {
      answer.header("access-control-allow-origin", origin);
      answer.header("access-control-expose-headers", CORS_EXPOSE_HEADERS);
    }
  }
}

/**
 * What an app lends a pass-through lane (usePassThrough) so that its answers are the app's: the same
 * request ids, house headers, metrics series and access line.
 */
export interface PassThroughKit {
  requestId(request: IncomingMessage): string;
  /** Sets the house headers (addHouseHeaders) on `answer`, for a plain-HTTP request. */
  houseHeaders(answer: { header(name: string, value: string): unknown }, request: IncomingMessage, requestId: string): void;
  /** Counts one finished answer and writes its access line, as the app's onResponse hook does. */
  finished(answer: { requestId: string; method: string; route: string; path: string; status: number; elapsedMs: number; ip: string | undefined; caller: { sub: string; jti: string } | null }): void;
  /** The app's logger (request.log of its routes). */
  logger: Logger;
}

/**
 * A lane in front of the app's router: it answers the requests it takes (returns true) in full, and leaves
 * every other request to Fastify (false). Offered only requests the edge rules passed, and never while the
 * app drains (those answers close their connection, which Fastify's path does).
 */
export type PassThroughLane = (request: IncomingMessage, response: ServerResponse) => boolean;

const passThroughSetters = new WeakMap<FastifyInstance, (build: (kit: PassThroughKit) => PassThroughLane) => void>();

/** Puts a pass-through lane in front of an app made by createHttpApp (see services/gateway/pass-through.ts). */
export function usePassThrough(app: FastifyInstance, build: (kit: PassThroughKit) => PassThroughLane): void {
  const set = passThroughSetters.get(app);
  if (!set) throw new Error("usePassThrough needs an app made by createHttpApp");
  set(build);
}

/** A Fastify app with the house rules: request ids, one error shape, metrics and an access log line. */
export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const limits = options.limits ?? defaultListenerLimits;
  const cors = options.cors && options.cors.origins.length > 0 ? options.cors : undefined;
  // While draining, every answer closes its connection, so keep-alive clients let go and close() can finish.
  const state = { hsts: options.hsts === true, draining: false, cors };
  let lane: PassThroughLane | undefined;
  const app = Fastify({
    // The listener is ours (edge.ts): header limits, request and body timeouts, Host, path normalisation,
    // CORS and Expect are settled on the raw request before Fastify routes it; a pass-through lane
    // (usePassThrough) may answer a request before Fastify sees it.
    serverFactory: (handler) =>
      createEdgeServer(
        (request, response) => {
          if (lane === undefined || state.draining || !lane(request, response)) handler(request, response);
        },
        limits,
        cors,
      ),
    loggerInstance: options.logger as FastifyBaseLogger,
    // The access log line is ours (onResponse below), with the route template and request id.
    logController: new LogController({ disableRequestLogging: true }),
    // request.log is the app's logger itself: a pino child per request is a cost on every request. Our
    // lines carry requestId explicitly; Fastify's own rare lines (a reply that fails after its headers
    // were sent) go without it, and per-route log levels are not supported.
    childLoggerFactory: (logger) => logger,
    bodyLimit: options.bodyLimit,
    trustProxy: options.trustProxy && options.trustProxy.length > 0 ? options.trustProxy : false,
    requestIdHeader: false,
    genReqId: requestIdOf,
    // Shutdown is ours (drain below): connections are not cut when close() starts, and a request that
    // arrives on an open connection while closing is served (with Connection: close), not refused with
    // Fastify's own 503 body.
    forceCloseConnections: false,
    return503OnClosing: false,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    // A path that cannot be percent-decoded, or a path parameter over maxParamLength: a 400 in the one shape.
    frameworkErrors: (error, request, reply) => {
      reply.header("x-request-id", request.id);
      sendError(reply, toAppError(error), request.id);
    },
    // Bad input below HTTP (a header block over the limit, broken framing) gets the one shape too.
    clientErrorHandler: (error, socket) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ECONNRESET" || socket.destroyed) return;
      if (socket.writable) {
        const appError =
          code === "HPE_HEADER_OVERFLOW"
            ? new AppError("headers_too_large", "The request headers are too large.")
            : code === "ERR_HTTP_REQUEST_TIMEOUT"
              ? new AppError("request_timeout", "The request took too long to arrive.")
              : new AppError("invalid_request", "The request is not valid HTTP.");
        const requestId = randomUUID();
        const body = JSON.stringify(errorBody(appError, requestId));
        socket.write(
          `HTTP/1.1 ${appError.status} ${STATUS_CODES[appError.status]}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy(error);
    },
  });

  app.decorateRequest(CALLER_FIELD, null);

  // JSON must be UTF-8: invalid bytes are a 400, not text silently changed to U+FFFD. Plain text is
  // not parsed, so it is a 415 like every other media type that is not JSON.
  const parseJson = app.getDefaultJsonParser("error", "error");
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  app.removeContentTypeParser(["application/json", "text/plain"]);
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    // Clients often label a bodiless DELETE or GET as JSON: with nothing to parse, that is no body. On
    // POST, PUT and PATCH an empty body is still malformed JSON.
    if ((body as Buffer).length === 0 && !methodsWithBody.has(request.method)) {
      done(null, undefined);
      return;
    }
    let json: string;
    try {
      json = utf8.decode(body as Buffer);
    } catch {
      done(new AppError("invalid_json", "The request body is not valid UTF-8."), undefined);
      return;
    }
    parseJson(request, json, done);
  });

  drainSwitches.set(app, () => {
    state.draining = true;
  });
  app.addHook("preClose", async () => {
    state.draining = true;
  });
  // Every answer (errors and 404s included) passes here. One callback-style hook: it runs on every
  // request, and each hook, more so an async one, is a measurable cost on the gateway's path.
  app.addHook("onSend", (request, reply, payload, done) => {
    addHouseHeaders(reply, request.id, request.headers.origin, state.hsts && request.protocol === "https", state);
    done(null, payload);
  });

  // Requests the edge refused (edge.ts) are answered here, before their body is read; the connection then
  // closes, so body bytes still on their way are never taken for the next request.
  app.all(EDGE_REJECTED_PATH, {
    onRequest: (request, reply, done) => {
      reply.header("connection", "close");
      done(rejectionOf(request.raw) ?? new AppError("not_found", "No such route."));
    },
    handler: async () => undefined,
  });
  if (cors) {
    // Only preflights from an allowed origin arrive here (edge.ts refuses the others).
    app.options(PREFLIGHT_PATH, (_request, reply) => {
      reply
        .code(204)
        .header("access-control-allow-methods", CORS_ALLOW_METHODS)
        .header("access-control-allow-headers", CORS_ALLOW_HEADERS)
        .header("access-control-max-age", CORS_MAX_AGE_SECONDS)
        .send();
    });
  }

  app.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error);
    if (appError.status >= 500) request.log.error({ err: error, requestId: request.id }, "request failed");
    return sendError(reply, appError, request.id);
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, new AppError("not_found", "No such route."), request.id));

  const record = options.recordMetrics !== false ? requestRecorder(options.service, options.metrics) : undefined;
  const accessLog = options.accessLog ?? options.recordMetrics !== false;
  const writeAccessLine = accessLog ? accessLineWriter(options.logger) : undefined;
  /** Counts one answer and writes its access line: the app's onResponse hook, and a pass-through lane's. */
  const finished: PassThroughKit["finished"] = (answer) => {
    record?.(answer.method, answer.route, answer.status, answer.elapsedMs / 1000);
    writeAccessLine?.({
      requestId: answer.requestId,
      method: answer.method,
      route: answer.route,
      path: answer.path,
      status: answer.status,
      durationMs: Math.round(answer.elapsedMs * 10) / 10,
      ip: answer.ip,
      user: answer.caller?.sub,
      tokenId: answer.caller?.jti,
    });
  };
  if (record || accessLog) {
    const routeOf = routeMatcher(app);
    app.addHook("onResponse", (request, reply, done) => {
      let route = request.routeOptions.url ?? "unmatched";
      let path: string | undefined;
      if (route === EDGE_REJECTED_PATH || route === PREFLIGHT_PATH) {
        // Answered by an internal route (edge.ts): counted and logged under the route the path asked for.
        const asked = askedPathOf(request.raw);
        path = asked?.path;
        route = asked?.canonical ? (routeOf(route === PREFLIGHT_PATH ? undefined : request.method, asked.path) ?? "unmatched") : "unmatched";
      }
      finished({
        requestId: request.id,
        method: request.method,
        route,
        path: path ?? pathOf(request.url),
        status: reply.statusCode,
        elapsedMs: reply.elapsedTime,
        ip: request.ip,
        caller: callerOf(request) ?? null,
      });
      done();
    });
  }
  passThroughSetters.set(app, (build) => {
    lane = build({
      requestId: requestIdOf,
      houseHeaders: (answer, request, requestId) => addHouseHeaders(answer, requestId, request.headers.origin, false, state),
      finished,
      logger: options.logger,
    });
  });
  return app;
}

/**
 * The template of the app's route that a canonical path would reach (for `method`, or any method when
 * undefined), for requests the edge answered through an internal route. Only those pay for the lookup, a
 * scan of the app's routes; the internal routes themselves are never the answer.
 */
/**
 * A route template (`/api/user/:id`, a `*` segment for the rest) as an anchored pattern over a path: each
 * parameter as `param`, then `ending` (e.g. an optional trailing slash).
 */
export function routePattern(url: string, param: string, ending = ""): RegExp {
  const segments = url.split("/").map((segment) => (segment.startsWith(":") ? param : segment === "*" ? ".*" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  return new RegExp(`^${segments.join("/")}${ending}$`);
}

function routeMatcher(app: FastifyInstance): (method: string | undefined, path: string) => string | undefined {
  const routes: { methods: string[]; url: string; pattern: RegExp }[] = [];
  app.addHook("onRoute", (route) => {
    if (route.url === EDGE_REJECTED_PATH || route.url === PREFLIGHT_PATH) return;
    routes.push({ methods: Array.isArray(route.method) ? route.method : [route.method], url: route.url, pattern: routePattern(route.url, "[^/]+", "/?") });
  });
  return (method, path) => {
    let fallback: string | undefined;
    for (const route of routes) {
      if (!route.pattern.test(path)) continue;
      // A literal segment outranks a parameter, as in the router: /api/user/me/export is not /api/user/:id/….
      if (method === undefined || route.methods.includes(method) || (method === "HEAD" && route.methods.includes("GET"))) {
        if (!route.url.includes(":")) return route.url;
        fallback ??= route.url;
      }
    }
    return fallback;
  };
}

/**
 * Counts one answered request. The labelled children are kept per route, method and status, in nested maps
 * whose keys are the strings the request already carries (no key built per request): looking labels up in
 * the metrics hashes and validates them, which is measurable on the gateway's path. The key space is
 * bounded: routes are templates ("unmatched" for the rest) and Node's parser accepts only known methods.
 */
export function requestRecorder(service: string, metrics: Metrics) {
  type Children = { count: { inc(): void }; duration: { observe(seconds: number): void } };
  const children = new Map<string, Map<string, Map<number, Children>>>();
  return (method: string, route: string, status: number, seconds: number) => {
    let byMethod = children.get(route);
    if (byMethod === undefined) children.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let child = byStatus.get(status);
    if (child === undefined) {
      child = {
        count: metrics.httpRequests.labels({ service, method, route, status: String(status) }),
        duration: metrics.httpDuration.labels({ service, method, route }),
      };
      byStatus.set(status, child);
    }
    child.count.inc();
    child.duration.observe(seconds);
  };
}

const pathOf = (url: string) => {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
};

const drainSwitches = new WeakMap<FastifyInstance, () => void>();

/**
 * The first half of a graceful stop, before `app.close()`: stop accepting connections, answer every
 * request from now on with `Connection: close`, and give open connections up to `graceMs` to finish and
 * close. A keep-alive client that sends its next request meanwhile is answered (and told to close)
 * instead of finding its connection reset. Node's own `server.close()` would close idle connections at
 * once, racing requests already on their way, so the listening socket is closed through net.Server's
 * close instead.
 *
 * Before the listener closes, the connections waiting in its accept queue are accepted, and after the
 * grace, connections still idle are closed here, only after the event loop has read what already arrived: a timer that fires after a busy stretch (argon2, a synchronous database statement)
 * runs before the poll phase, so requests sitting in the sockets' buffers would still look idle and be
 * reset. setImmediate runs after a poll phase, which parses them; their connections are then busy and
 * get answered with Connection: close. No connection can become idle again afterwards (every answer
 * closes its connection), so `app.close()` finds nothing idle left to cut.
 */
export async function drain(app: FastifyInstance, graceMs: number): Promise<void> {
  drainSwitches.get(app)?.();
  const server = app.server;
  if (!server.listening) return;
  // Closing a listening socket resets every connection still in the kernel's accept queue, though its
  // client has sent its request. After a busy stretch (a checkpoint, a WAL segment created and synced)
  // that queue is full: one poll phase accepts them first.
  await pollPhase();
  net.Server.prototype.close.call(server);
  const until = Date.now() + graceMs;
  while (Date.now() < until && (await openConnections(server)) > 0) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await pollPhase();
  server.closeIdleConnections();
}

/** Resolves after the event loop's next poll phase, which accepts pending connections and reads what arrived. */
const pollPhase = () => new Promise((resolve) => setImmediate(resolve));

const openConnections = (server: net.Server) =>
  new Promise<number>((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));

/** Writes an AppError in the one body shape. */
export function sendError(reply: FastifyReply, error: AppError, requestId: string): FastifyReply {
  if (error.headers) reply.headers(error.headers);
  return reply.code(error.status).type("application/json").send(errorBody(error, requestId));
}

/** Validates input against a zod schema; failures are a 400 that names each bad field. */
export function parseInput<Schema extends z.ZodType>(schema: Schema, input: unknown, what = "body"): z.infer<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = result.error.issues.slice(0, 10).map((issue) => ({
    field: issue.path.map(String).join(".") || what,
    problem: issue.message,
  }));
  throw new AppError("invalid_request", `The request ${what} is invalid.`, { details: { fields } });
}

/** Starts listening and returns the bound port (0 asks the OS for a free one). */
export async function listen(app: FastifyInstance, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  const address = app.server.address();
  if (address === null || typeof address === "string") throw new Error("listener has no TCP address");
  return address.port;
}

export type { FastifyInstance, FastifyReply, FastifyRequest };
