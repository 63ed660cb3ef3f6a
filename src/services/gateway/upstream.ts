import { Pool, errors as undiciErrors, type Dispatcher } from "undici";
import { setMaxListeners } from "node:events";
import type { IncomingHttpHeaders } from "node:http";
import { BrokenAnswer, dispatchExchange } from "./upstream-exchange.ts";
import { AppError } from "../../platform/errors.ts";
import { createCircuitBreaker, type BreakerOptions, type BreakerState } from "./circuit-breaker.ts";
import { createRetryBudget } from "./retry-budget.ts";

/** Request headers that claim an identity the edge has not verified, or that are meant for the gateway only. */
export const identityHeaders = [
  "x-azora-ops-token",
  "x-azora-gateway",
  "x-user-id",
  "x-user-email",
  "x-user-role",
  "x-forwarded-user",
  "x-remote-user",
  "x-authenticated-user",
  "x-auth-user",
];
/** Request headers that describe one hop, and the identity headers: none reaches a service. */
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
  "expect",
  ...identityHeaders,
]);

export interface ForwardRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer | undefined;
  /** The hops the gateway vouches for, client first (see gateway.app.ts); replaces what the client sent. */
  forwardedFor: string;
  /** The in-process gateway's secret for the services (see service-app.ts), when there is one. */
  proof?: string;
  requestId: string;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer | NodeJS.ReadableStream;
}

export interface UpstreamPolicy {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  /** No exchange with the upstream, retries included, lasts longer than this. */
  totalTimeoutMs: number;
  breaker: Omit<BreakerOptions, "now">;
  /** No breaker in front of the pool: only to measure what the breaker costs (GatewayFeatures.breakers). */
  withoutBreaker?: boolean;
}

export interface UpstreamEvents {
  error(reason: string): void;
  retry(): void;
  breakerState(state: BreakerState): void;
}

/** Errors raised before any answer arrived: the request may not have reached the service at all. */
const connectionErrorCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_CLOSED"]);
const idempotentMethods = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);
const MAX_RETRIES = 2;

const isTimeout = (error: unknown) =>
  error instanceof undiciErrors.HeadersTimeoutError ||
  error instanceof undiciErrors.BodyTimeoutError ||
  error instanceof undiciErrors.ConnectTimeoutError ||
  (error as { name?: unknown })?.name === "TimeoutError";

/** The upstream's own overload answers count as failures for its breaker; a 500 is an application error, not an outage. */
export const isOutageStatus = (status: number) => status === 502 || status === 503 || status === 504;

/**
 * The total deadline of an exchange as an abort signal shared by the exchanges that start within one slot
 * (1/20 of the timeout, at most 50 ms): one timer per slot instead of one AbortSignal.timeout per request,
 * which was a measurable share of the gateway's CPU (docs/adr/0250). The signal fires at the slot's start
 * plus the timeout, so an exchange is cut at most one slot early, never late.
 */
export function sharedDeadlines(totalMs: number, now: () => number = Date.now): () => Deadline {
  const slotMs = Math.max(1, Math.min(50, Math.floor(totalMs / 20)));
  let current: Deadline | undefined;
  let slotEnd = 0;
  return () => {
    const at = now();
    if (current === undefined || at >= slotEnd) {
      const signal = AbortSignal.timeout(totalMs);
      // Every exchange in flight in the slot may listen on it: no leak, so no listener warning.
      setMaxListeners(0, signal);
      // The exchanges still in flight when it fires are cut through one listener, not one each (docs/adr/0510).
      const exchanges = new Set<Cancellable>();
      signal.addEventListener("abort", () => {
        for (const exchange of exchanges) exchange.cancel(signal.reason as Error);
        exchanges.clear();
      });
      current = { signal, deadline: at + totalMs, exchanges };
      slotEnd = at + slotMs;
    }
    return current;
  };
}

/** An exchange in flight that a deadline can cut. */
export interface Cancellable {
  cancel(reason: Error): void;
}

/** The deadline of the exchanges of one slot: its signal, when it fires, and the exchanges it will cut. */
export interface Deadline {
  signal: AbortSignal;
  deadline: number;
  exchanges: Set<Cancellable>;
}

/**
 * A keep-alive connection pool to one backend service, behind a circuit breaker, with a total deadline per
 * exchange and retries (idempotent requests, connection errors only, jittered, within a retry budget).
 */
export function createUpstream(name: string, origin: string, policy: UpstreamPolicy, events: UpstreamEvents) {
  const pool = new Pool(origin, {
    connections: 256,
    keepAliveTimeout: 30_000,
    headersTimeout: policy.headersTimeoutMs,
    bodyTimeout: policy.totalTimeoutMs,
    connect: { timeout: policy.connectTimeoutMs },
  });
  const breaker = createCircuitBreaker(name, { ...policy.breaker, now: Date.now }, events.breakerState);
  const deadlineNow = sharedDeadlines(policy.totalTimeoutMs);
  const retryBudget = createRetryBudget({ windowMs: 10_000, ratio: 0.2, minimum: 3, now: Date.now });

  const failure = (error: unknown, reason: string, what: string): AppError => {
    const timedOut = isTimeout(error);
    events.error(timedOut ? "timeout" : reason);
    return timedOut
      ? new AppError("gateway_timeout", `The ${name} service did not answer in time.`)
      : new AppError("bad_gateway", `The ${name} service ${what}.`);
  };

  /** Sends the request, again after a connection error when that is safe, until the deadline. */
  const send = async (options: Dispatcher.DispatchOptions, deadline: Deadline): Promise<UpstreamResponse> => {
    retryBudget.request();
    for (let attempt = 0; ; attempt++) {
      try {
        return await dispatchExchange(pool, options, deadline);
      } catch (error) {
        if (error instanceof BrokenAnswer) throw failure(error.reason, "incomplete", "broke off its answer");
        const code = (error as { code?: unknown }).code;
        const retryable = idempotentMethods.has(options.method) && typeof code === "string" && connectionErrorCodes.has(code);
        const pauseMs = 25 * 2 ** attempt + Math.random() * 25;
        if (retryable && attempt < MAX_RETRIES && Date.now() + pauseMs < deadline.deadline && retryBudget.tryRetry()) {
          events.retry();
          await new Promise((resolve) => setTimeout(resolve, pauseMs));
          continue;
        }
        throw failure(error, "connect", "is unavailable");
      }
    }
  };

  // Not async: the promise of send is the exchange's, without one more promise and tick per request.
  const exchange = (request: ForwardRequest): Promise<UpstreamResponse> => {
    const headers: Record<string, string | string[]> = {};
    for (const key in request.headers) {
      const value = request.headers[key];
      if (value === undefined || droppedRequestHeaders.has(key) || key.startsWith("x-forwarded-")) continue;
      headers[key] = value;
    }
    headers["x-forwarded-for"] = request.forwardedFor;
    if (request.proof) headers["x-azora-gateway"] = request.proof;
    headers["x-request-id"] = request.requestId;
    return send(
      {
        method: request.method as "GET",
        path: request.path,
        headers,
        body: request.body && request.body.length > 0 ? request.body : null,
      },
      deadlineNow(),
    );
  };

  return {
    name,
    origin,
    breaker,
    /** Forwards one request, unless the breaker is open: then an immediate 503 with Retry-After. */
    async forward(request: ForwardRequest): Promise<UpstreamResponse> {
      if (policy.withoutBreaker) return exchange(request);
      const admission = breaker.admit();
      if (!admission.ok) {
        events.error("breaker_open");
        throw new AppError("upstream_unavailable", `The ${name} service is unavailable. Try again in ${admission.retryAfterSeconds} s.`, {
          headers: { "retry-after": String(admission.retryAfterSeconds) },
        });
      }
      let healthy = false;
      try {
        const response = await exchange(request);
        healthy = !isOutageStatus(response.status);
        return response;
      } finally {
        breaker.record(healthy, admission.probe);
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
