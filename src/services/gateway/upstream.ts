import { Pool, errors as undiciErrors, type Dispatcher } from "undici";
import type { IncomingHttpHeaders } from "node:http";
import { AppError } from "../../platform/errors.ts";

/** Request headers that describe one hop, or that claim an identity the edge has not verified. */
const droppedRequestHeaders = new Set([
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "x-user-id",
  "x-user-email",
  "x-user-role",
  "x-forwarded-user",
  "x-remote-user",
  "x-authenticated-user",
  "x-auth-user",
]);
const droppedResponseHeaders = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "trailer"]);

export interface ForwardRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer | undefined;
  /** The hops the gateway vouches for, client first (see gateway.app.ts); replaces what the client sent. */
  forwardedFor: string;
  requestId: string;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer | NodeJS.ReadableStream;
}

/**
 * Answers up to this size (by their Content-Length) are read whole and sent as one buffer: headers and body
 * then leave in one write, where a stream costs several writes and a pipe. Larger or unsized answers stream.
 */
const BUFFERED_BODY_MAX_BYTES = 64 * 1024;

/**
 * A body that can be read whole: announced, not empty, small. HEAD answers, 204 and 304 have no body
 * whatever their Content-Length says, so they pass as they are.
 */
function worthBuffering(method: string, response: Dispatcher.ResponseData): boolean {
  if (method === "HEAD" || response.statusCode === 204 || response.statusCode === 304) return false;
  const length = Number(response.headers["content-length"] ?? Number.NaN);
  return length > 0 && length <= BUFFERED_BODY_MAX_BYTES;
}

/** A keep-alive connection pool to one backend service. */
export function createUpstream(name: string, origin: string, onError: (reason: string) => void) {
  const pool = new Pool(origin, { connections: 256, keepAliveTimeout: 30_000, headersTimeout: 30_000, bodyTimeout: 30_000 });

  const failure = (error: unknown, reason: string, what: string): AppError => {
    const timedOut = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError;
    onError(timedOut ? "timeout" : reason);
    return timedOut
      ? new AppError("gateway_timeout", `The ${name} service did not answer in time.`)
      : new AppError("bad_gateway", `The ${name} service ${what}.`);
  };

  return {
    name,
    origin,
    async forward(request: ForwardRequest): Promise<UpstreamResponse> {
      const headers: Record<string, string | string[]> = {};
      for (const key in request.headers) {
        const value = request.headers[key];
        if (value === undefined || droppedRequestHeaders.has(key) || key.startsWith("x-forwarded-")) continue;
        headers[key] = value;
      }
      headers["x-forwarded-for"] = request.forwardedFor;
      headers["x-request-id"] = request.requestId;
      let response: Dispatcher.ResponseData;
      try {
        response = await pool.request({
          method: request.method as "GET",
          path: request.path,
          headers,
          body: request.body && request.body.length > 0 ? request.body : null,
        });
      } catch (error) {
        throw failure(error, "connect", "is unavailable");
      }
      const responseHeaders: Record<string, string | string[]> = {};
      for (const key in response.headers) {
        const value = response.headers[key];
        if (value !== undefined && !droppedResponseHeaders.has(key)) responseHeaders[key] = value;
      }
      if (!worthBuffering(request.method, response)) return { status: response.statusCode, headers: responseHeaders, body: response.body };
      try {
        const body = Buffer.from(await response.body.arrayBuffer());
        return { status: response.statusCode, headers: responseHeaders, body };
      } catch (error) {
        throw failure(error, "incomplete", "broke off its answer");
      }
    },
    /** GET /health on the service, for the gateway's own health answer. */
    async healthy(timeoutMs = 2_000): Promise<boolean> {
      try {
        const response = await pool.request({ method: "GET", path: "/health", headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
        await response.body.dump();
        return response.statusCode === 200;
      } catch {
        return false;
      }
    },
    close: () => pool.close(),
  };
}

export type Upstream = ReturnType<typeof createUpstream>;
