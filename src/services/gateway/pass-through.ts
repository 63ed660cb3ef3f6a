import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { finished } from "node:stream";
import { errorBody, toAppError } from "../../platform/errors.ts";
import { callerOf, routePattern, type PassThroughKit, type PassThroughLane } from "../../platform/http.ts";
import type { EdgePolicies } from "./in-process.ts";
import type { GatewayRoute } from "./routes.ts";
import type { RoutedUpstream } from "./traffic/routed-upstream.ts";
import type { UpstreamResponse } from "./upstream.ts";

/** A proxied route as the lane serves it: its policies and its upstream, the same objects Fastify's route uses. */
export interface LaneRoute {
  route: GatewayRoute;
  policies: EdgePolicies;
  upstream: RoutedUpstream;
}

/** A path parameter the lane takes as it is: no percent-escape to decode, within the router's 200 characters. */
const PARAM = "[A-Za-z0-9._~!$&'()*+,=:@-]{1,200}";

const noop = () => undefined;

/**
 * The proxy's pass-through lane (docs/adr/0530): the requests it takes skip Fastify's request pipeline and
 * get exactly what the Fastify route gives them — the same policies (maintenance, token, rate limit, in the
 * same order, with the same objects), the same forward through the same upstream (breaker, deadline,
 * retries), the same headers, error shape, metrics series and access line.
 *
 * It takes only what needs none of the rest of Fastify: a GET or DELETE without a body (no Content-Length,
 * no Transfer-Encoding) whose canonical path matches one proxied route with plain parameters. Everything
 * else (bodies, HEAD, OPTIONS, unknown paths, escapes in a parameter, a parameter over 200 characters, the
 * edge's refusals and preflights, answers while draining) goes to Fastify as before. It is not used behind
 * TRUSTED_PROXIES, where the client's address comes from X-Forwarded-For (gateway.app.ts).
 */
export function passThroughLane(kit: PassThroughKit, routes: LaneRoute[], gatewayProof: string | undefined): PassThroughLane {
  const byMethod = new Map<string, { pattern: RegExp; lane: LaneRoute }[]>();
  // Literal templates first, as the router ranks a literal segment above a parameter.
  const ordered = [...routes].sort((a, b) => Number(a.route.url.includes(":")) - Number(b.route.url.includes(":")));
  for (const lane of ordered) {
    if (lane.route.method !== "GET" && lane.route.method !== "DELETE") continue;
    const list = byMethod.get(lane.route.method) ?? [];
    list.push({ pattern: routePattern(lane.route.url, PARAM), lane });
    byMethod.set(lane.route.method, list);
  }
  const context: LaneContext = { kit, gatewayProof };
  return (request, response) => {
    const candidates = byMethod.get(request.method ?? "");
    if (candidates === undefined) return false;
    const { headers } = request;
    if (headers["content-length"] !== undefined || headers["transfer-encoding"] !== undefined) return false;
    const url = request.url ?? "/";
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    for (const candidate of candidates) {
      if (!candidate.pattern.test(path)) continue;
      void new LaneExchange(context, candidate.lane, request, response, path).run();
      return true;
    }
    return false;
  };
}

interface LaneContext {
  kit: PassThroughKit;
  gatewayProof: string | undefined;
}

/**
 * One request through the lane. It is the `request` and the `reply` the policies see (id, ip, headers;
 * `header()` for the RateLimit-* headers, the caller noted on it), and holds the answer's headers in the
 * order Fastify's reply would have them: the policies', the upstream's, then the house headers.
 * A class rather than closures: this runs on every request.
 */
class LaneExchange {
  readonly id: string;
  readonly ip: string;
  readonly headers: IncomingHttpHeaders;
  readonly startedAt = performance.now();
  azoraCaller: { sub: string; jti: string } | null = null;
  private answer: Record<string, string | string[]> = {};

  constructor(
    private readonly context: LaneContext,
    private readonly lane: LaneRoute,
    private readonly request: IncomingMessage,
    private readonly response: ServerResponse,
    private readonly path: string,
  ) {
    this.id = context.kit.requestId(request);
    // As Fastify's request.ip without a trusted proxy: the peer's address.
    this.ip = request.socket.remoteAddress as string;
    this.headers = request.headers;
    (response as ResponseWithExchange)[EXCHANGE] = this;
    response.on("finish", settle);
    response.on("error", settle);
  }

  /** The reply's header(): the policies' RateLimit-* headers, and the house headers (http.ts). */
  header(name: string, value: string): this {
    this.answer[name] = value;
    return this;
  }

  async run(): Promise<void> {
    try {
      await this.lane.policies(this, this);
      const answer = await this.lane.upstream.forward({
        method: this.request.method as string,
        path: this.request.url as string,
        headers: this.headers,
        body: undefined,
        forwardedFor: this.ip,
        ...(this.context.gatewayProof ? { proof: this.context.gatewayProof } : {}),
        requestId: this.id,
      });
      this.send(answer);
    } catch (error) {
      try {
        this.fail(error);
      } catch (failure) {
        // Not even the error answer could be written (a header Node refuses): the connection is cut, as
        // Fastify cuts one whose reply throws, rather than left to an unhandled rejection.
        this.context.kit.logger.error({ err: failure, requestId: this.id }, "request failed");
        this.response.destroy();
      }
    }
  }

  /** The upstream's answer, as the route's `reply.code(status).headers(headers).send(body)` sends it. */
  private send(answer: UpstreamResponse): void {
    const { response } = this;
    const headers = this.answer;
    for (const key in answer.headers) headers[key] = answer.headers[key] as string | string[];
    const body = answer.body;
    // As Fastify's send() labels a buffer that has no type.
    if (Buffer.isBuffer(body) && !headers["content-type"]) headers["content-type"] = "application/octet-stream";
    this.context.kit.houseHeaders(this, this.request, this.id);
    response.statusCode = answer.status;
    if (Buffer.isBuffer(body)) {
      const length = headers["content-length"];
      if (length === undefined || Number(length) !== body.length) headers["content-length"] = String(body.length);
      response.writeHead(answer.status, headers);
      response.end(body);
      return;
    }
    if (answer.status === 204) {
      // No body may follow a 204: the upstream's (empty) stream is drained, not sent.
      delete headers["content-type"];
      delete headers["content-length"];
      response.writeHead(answer.status, headers);
      response.end();
      body.on("error", noop);
      (body as NodeJS.ReadableStream).resume();
      return;
    }
    this.stream(body as NodeJS.ReadableStream & { destroy?(error?: Error): void });
  }

  /** A streamed answer, as Fastify streams one: headers with the first chunk; a broken source cuts the answer. */
  private stream(body: NodeJS.ReadableStream & { destroy?(error?: Error): void }): void {
    const { response } = this;
    for (const key in this.answer) response.setHeader(key, this.answer[key] as string | string[]);
    let sourceOpen = true;
    finished(body, { readable: true, writable: false }, (error) => {
      sourceOpen = false;
      if (error == null) return;
      if (response.headersSent || this.request.destroyed) response.destroy();
      else this.fail(error);
    });
    finished(response, () => {
      if (sourceOpen) body.destroy?.();
    });
    body.pipe(response);
  }

  /** A refusal or a failure, in the one error shape (http.ts sendError and the app's error handler). */
  private fail(error: unknown): void {
    const { response } = this;
    const appError = toAppError(error);
    if (appError.status >= 500) this.context.kit.logger.error({ err: error, requestId: this.id }, "request failed");
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const headers = this.answer;
    if (appError.headers) for (const key in appError.headers) headers[key] = appError.headers[key] as string;
    headers["content-type"] = "application/json; charset=utf-8";
    this.context.kit.houseHeaders(this, this.request, this.id);
    const body = JSON.stringify(errorBody(appError, this.id));
    headers["content-length"] = String(Buffer.byteLength(body));
    response.statusCode = appError.status;
    response.writeHead(appError.status, headers);
    response.end(body);
  }

  /** Counted and logged once the answer is finished (or failed), as the app's onResponse hook does. */
  settled(): void {
    const { request, response } = this;
    this.context.kit.finished({
      requestId: this.id,
      method: request.method as string,
      route: this.lane.route.url,
      path: this.path,
      status: response.statusCode,
      elapsedMs: performance.now() - this.startedAt,
      ip: this.ip,
      caller: callerOf(this) ?? null,
    });
  }
}

const EXCHANGE = Symbol("azora.laneExchange");
type ResponseWithExchange = ServerResponse & { [EXCHANGE]?: LaneExchange };

/** The response's 'finish' or 'error' listener (one function for every request, not a closure each). */
function settle(this: ResponseWithExchange): void {
  this.removeListener("finish", settle);
  this.removeListener("error", settle);
  const exchange = this[EXCHANGE];
  this[EXCHANGE] = undefined;
  exchange?.settled();
}
