import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { z } from "zod";
import { AppError, errorBody, toAppError } from "./errors.ts";
import { LogEvent } from "./log-events.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";

const wellFormedRequestId = /^[A-Za-z0-9._:-]{8,128}$/;
const methodsWithBody = new Set(["POST", "PUT", "PATCH"]);

export interface HttpAppOptions {
  service: string;
  /** Bound by the caller (`logger.child({ service })`): lines take `service` from it, so it is not repeated in them. */
  logger: Logger;
  metrics: Metrics;
  bodyLimit: number;
  /** Records requests in http_requests_total; off for the ops listener. */
  recordMetrics?: boolean;
  /** Hops whose X-Forwarded-For is believed when taking the client IP. */
  trustProxy?: string[];
}

/** A Fastify app with the house rules: request ids, one error shape, metrics and an access log line. */
export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const app = Fastify({
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
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && wellFormedRequestId.test(given) ? given : randomUUID();
    },
    // Idle keep-alive sockets close at once on shutdown; busy ones finish their request first.
    forceCloseConnections: "idle",
    return503OnClosing: true,
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

  // While draining, every answer closes its connection, so keep-alive clients let go and close() can finish.
  let draining = false;
  app.addHook("preClose", async () => {
    draining = true;
  });
  // Every answer (errors and 404s included) passes here. One callback-style hook: it runs on every
  // request, and each hook, more so an async one, is a measurable cost on the gateway's path.
  app.addHook("onSend", (request, reply, payload, done) => {
    reply.header("x-request-id", request.id);
    if (draining) reply.header("connection", "close");
    done(null, payload);
  });

  app.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error);
    if (appError.status >= 500) request.log.error({ err: error, requestId: request.id }, "request failed");
    return sendError(reply, appError, request.id);
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, new AppError("not_found", "No such route."), request.id));

  if (options.recordMetrics !== false) {
    const record = requestRecorder(options.service, options.metrics);
    app.addHook("onResponse", (request, reply, done) => {
      const route = request.routeOptions.url ?? "unmatched";
      record(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
      options.logger.info(
        {
          event: LogEvent.HTTP_REQUEST,
          requestId: request.id,
          method: request.method,
          route,
          path: pathOf(request.url),
          status: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 10) / 10,
        },
        "request",
      );
      done();
    });
  }
  return app;
}

/**
 * Counts one answered request. The labelled children are kept per (method, route, status): looking labels
 * up in prom-client hashes and validates them, which is measurable on the gateway's path. The key space is
 * bounded: routes are templates ("unmatched" for the rest) and Node's parser accepts only known methods.
 */
function requestRecorder(service: string, metrics: Metrics) {
  type Children = { count: { inc(): void }; duration: { observe(seconds: number): void } };
  const children = new Map<string, Children>();
  return (method: string, route: string, status: number, seconds: number) => {
    const key = `${method} ${status} ${route}`;
    let child = children.get(key);
    if (child === undefined) {
      child = {
        count: metrics.httpRequests.labels({ service, method, route, status: String(status) }),
        duration: metrics.httpDuration.labels({ service, method, route }),
      };
      children.set(key, child);
    }
    child.count.inc();
    child.duration.observe(seconds);
  };
}

const pathOf = (url: string) => {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
};

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
