import { opsTokenNow, type OpsTokenSource } from "../../platform/ops-token.ts";
import type { ActiveUsers } from "../../platform/active-users.ts";
import type { Config } from "../../platform/config.ts";
import { timingSafeEqual } from "node:crypto";
import { AppError } from "../../platform/errors.ts";
import { createHttpApp, noteCaller, usePassThrough, type FastifyInstance, type FastifyRequest } from "../../platform/http.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Metrics } from "../../platform/metrics.ts";
import { createTokenVerifier } from "../../platform/token-verifier.ts";
import { verifierPolicy } from "../../platform/service-app.ts";
import type { Clock } from "../../platform/clock.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { breakerStateValue, type BreakerSnapshot, type BreakerState } from "./circuit-breaker.ts";
import { createRateLimits, rateLimitHeaders } from "./rate-limits.ts";
import { rateLimitBudgets, type RateLimitBudgets } from "../security/policy-watcher.ts";
import { shippedPolicy } from "../security/policy.ts";
import type { SecurityPolicy } from "../security/policy.ts";
import type { MaintenanceState } from "./maintenance.ts";
import { gatewayRoutes, type GatewayRoute } from "./routes.ts";
import { mountInProcess, type EdgePolicies, type EdgeRequest } from "./in-process.ts";
import { passThroughLane, type LaneRoute } from "./pass-through.ts";
import type { ServiceRoutes } from "../../platform/service-app.ts";
import type { IncidentsRepository } from "./incidents.repository.ts";
import { renderStatusPage } from "./status-page.ts";
import { cachedFor, collectStatus } from "./status.ts";
import { createRoutedUpstream, type RoutedUpstream, type Served } from "./traffic/routed-upstream.ts";
import type { TrafficRoute, TrafficUpstream } from "./traffic/traffic.repository.ts";
import type { RevocationCheck } from "../../platform/revocation/revocation.ts";

/**
 * X-Forwarded-For for the services, which trust the gateway's: only hops the gateway can vouch for. That
 * is the client's address as the gateway sees it, or, behind TRUSTED_PROXIES, the chain up to the first
 * address no trusted proxy vouches for. Whatever a client wrote into the header itself is not passed on,
 * so it cannot choose the IP the services log and limit by.
 */
function forwardedFor(request: FastifyRequest): string {
  return request.ips ? [...request.ips].reverse().join(", ") : request.ip;
}

export interface GatewayDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  activeUsers: ActiveUsers;
  upstreams: { auth: string; users: string };
  /** The maintenance flag as this process last read it; absent means never in maintenance. */
  maintenance?: { current(): MaintenanceState };
  /** The security policy in force (rate limits), polled; absent means the shipped defaults. */
  securityPolicy?: { current(): SecurityPolicy };
  /** Open incidents for the status page; absent means none are tracked. */
  incidents?: Pick<IncidentsRepository, "listOpen">;
  /** Requests with `X-Azora-Ops-Token: <token>` pass maintenance mode (operators checking the platform). */
  opsToken?: OpsTokenSource;
  /** Refuses tokens of users that are gone, disabled or revoked; absent means signature and expiry only. */
  revocation?: RevocationCheck;
  /** The clock tokens are checked against (the platform's, injected in tests). */
  clock?: Clock;
  /** The release routes (blue/green target sets, canary weight) this process follows; absent: the configured URLs only. */
  traffic?: { current(upstream: TrafficUpstream): TrafficRoute | undefined };
  /** Sent to the in-process services so they believe this gateway's X-Forwarded-For (see service-app.ts). */
  gatewayProof?: string;
  /**
   * `azora up`: the services' routes, served inside this app behind the same policies instead of proxied
   * to `upstreams` (see in-process.ts and docs/adr/0195). `upstreams.auth` still serves the signing keys.
   */
  inProcess?: Record<"auth" | "users", ServiceRoutes>;
  /**
   * Switches single features off, to measure what each one costs (`npm run bench:gateway`, one feature at a
   * time as Kong measures its plugins). Absent, or any feature absent: on. Nothing in the platform turns one off.
   */
  features?: Partial<GatewayFeatures>;
}

/** The gateway's per-request features that can be measured one at a time (GatewayDeps.features). */
export interface GatewayFeatures {
  /** http_requests_total, http_request_duration_seconds and the per-upstream series. */
  metrics: boolean;
  /** One access line per request in api.log. */
  accessLog: boolean;
  /** The edge's token verification on routes that require a token. */
  tokenCheck: boolean;
  /** Rate limits (shared in Redis with REDIS_URL, in-process otherwise). */
  rateLimits: boolean;
  /** A circuit breaker in front of each upstream target (proxy composition). */
  breakers: boolean;
}

/** Room for multipart boundaries and part headers around an attachment of the largest size. */
const MULTIPART_FRAMING_BYTES = 64 * 1024;

/**
 * The public edge: checks tokens early, then proxies each known route to its service over keep-alive pools
 * (following the release routes where they exist), or, in `azora up`, hands it to the service's handler in
 * this same app.
 */
export function createGatewayApp(deps: GatewayDeps): { app: FastifyInstance; breakers(): BreakerSnapshot[]; traffic(): unknown[]; close(): Promise<void> } {
  const { config, metrics } = deps;
  const features: GatewayFeatures = { metrics: true, accessLog: true, tokenCheck: true, rateLimits: true, breakers: true, ...deps.features };
  // The edge's own lines (access lines, refusals) go here in both shapes; in `azora up` request.log is the
  // logger of the service whose route it is (see in-process.ts).
  const edgeLog = deps.logger.child({ service: "gateway" });
  const app = createHttpApp({
    service: "gateway",
    logger: edgeLog,
    metrics,
    bodyLimit: config.http.bodyLimit,
    limits: config.http.limits,
    cors: { origins: config.corsOrigins },
    trustProxy: config.trustedProxies,
    hsts: true,
    recordMetrics: features.metrics,
    accessLog: features.accessLog,
  });
  const events = (upstream: string) => {
    const retries = metrics.upstreamRetries.labels({ upstream });
    const breakerState = metrics.circuitBreakerState.labels({ upstream });
    breakerState.set(0);
    return {
      error: (reason: string) => metrics.upstreamErrors.inc({ upstream, reason }),
      retry: () => retries.inc(),
      breakerState: (state: BreakerState) => {
        breakerState.set(breakerStateValue[state]);
        deps.logger.warn({ event: LogEvent.CIRCUIT_BREAKER_TRANSITION, upstream, state }, `circuit breaker of ${upstream} is ${state}`);
      },
      // A target no route points at any more leaves no breaker series behind (a stale "open" would alert).
      retired: () => metrics.circuitBreakerState.remove({ upstream }),
    };
  };
  // One counter child per (upstream, colour, class), looked up once: this runs on every forwarded request.
  const servedCounters = new Map<string, { inc(): void }>();
  const countServed = (upstream: string, colour: string, status: number | "error") => {
    const statusClass = status === "error" ? "error" : `${Math.floor(status / 100)}xx`;
    const key = `${upstream} ${colour} ${statusClass}`;
    let counter = servedCounters.get(key);
    if (!counter) servedCounters.set(key, (counter = metrics.upstreamRequests.labels({ upstream, colour, status_class: statusClass })));
    counter.inc();
  };
  const routed = (name: TrafficUpstream): RoutedUpstream =>
    createRoutedUpstream({
      name,
      origin: deps.upstreams[name],
      policy: features.breakers ? config.upstreamPolicy : { ...config.upstreamPolicy, withoutBreaker: true },
      events,
      route: () => deps.traffic?.current(name),
      ...(features.metrics ? { served: (colour: Served, status: number | "error") => countServed(name, colour, status) } : {}),
    });
  const inProcess = deps.inProcess;
  // In `azora up` there is nothing to proxy to (and no release route to follow): the services run in this app.
  const upstreams: Record<TrafficUpstream, RoutedUpstream> | undefined = inProcess ? undefined : { auth: routed("auth"), users: routed("users") };
  const verifier = createTokenVerifier({
    jwksUrl: () => new URL("/.well-known/jwks.json", deps.upstreams.auth).href,
    ...verifierPolicy(config),
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.revocation ? { revocation: deps.revocation } : {}),
  });

  if (!inProcess) {
    // Bodies pass through untouched (the services parse them); the limit still applies here.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
  }

  // Worked out again only when the policy in force is another object (a poll read it), not on every request.
  let budgetsOf: { policy: SecurityPolicy; budgets: RateLimitBudgets } | undefined;
  const budgets = (): RateLimitBudgets => {
    const policy = deps.securityPolicy?.current() ?? shippedPolicy();
    if (budgetsOf?.policy !== policy) budgetsOf = { policy, budgets: rateLimitBudgets(config, policy) };
    return budgetsOf.budgets;
  };
  const limits = createRateLimits(config, budgets);
  const carriesOpsToken = (request: EdgeRequest) => {
    const given = request.headers["x-azora-ops-token"];
    if (!deps.opsToken || typeof given !== "string") return false;
    const opsToken = Buffer.from(opsTokenNow(deps.opsToken));
    const bytes = Buffer.from(given);
    return bytes.length === opsToken.length && timingSafeEqual(bytes, opsToken);
  };

  /** The edge policies of one route, in the same order in both shapes: maintenance, token, limit, token verdict. */
  const policiesFor = (route: GatewayRoute): EdgePolicies => {
    const refusals = metrics.rateLimited.labels({ route_group: route.group });
    return async (request, reply) => {
        const maintenance = deps.maintenance?.current();
        if (maintenance?.enabled && !carriesOpsToken(request)) {
          throw new AppError("maintenance", maintenance.message, { headers: { "retry-after": String(maintenance.retryAfterSeconds) } });
        }
        let user: string | undefined;
        let tokenProblem: AppError | undefined;
        if (route.requiresToken && features.tokenCheck) {
          const result = await verifier.verify(request.headers.authorization);
          if (result.ok) {
            user = result.claims.sub;
            noteCaller(request, result.claims);
          }
          else {
            tokenProblem =
              result.reason === "missing"
                ? new AppError("unauthorized", "Send an access token: Authorization: Bearer <token>.")
                : new AppError("invalid_token", "The access token is invalid or expired.");
          }
        }
        // The limit comes before the token verdict, so a flood of bad tokens is limited by IP like any other.
        const key = route.group === "auth" || !user ? `ip:${request.ip}` : `user:${user}`;
        const decision = features.rateLimits ? await limits.take(route.group, key) : undefined;
        if (decision) {
          const headers = rateLimitHeaders(decision, budgets().windowSeconds);
          if (!decision.allowed) {
            refusals.inc();
            edgeLog.warn(
              { event: LogEvent.RATE_LIMIT_EXCEEDED, requestId: request.id, ip: request.ip, user, route: route.url, method: route.method, routeGroup: route.group },
              "rate limit exceeded",
            );
            throw new AppError("rate_limited", `Too many requests. Try again in ${decision.resetSeconds} s.`, { headers });
          }
          for (const name in headers) reply.header(name, headers[name] as string);
        }
        if (tokenProblem) throw tokenProblem;
        if (user) deps.activeUsers.seen(user);
    };
  };

  const composed = inProcess ? mountInProcess(app, { services: inProcess, routes: gatewayRoutes, policiesFor, breaker: config.upstreamPolicy.breaker, events, metrics }) : undefined;
  const backends = composed ?? upstreams!;
  const laneRoutes: LaneRoute[] = [];
  for (const route of upstreams ? gatewayRoutes : []) {
    const upstream = upstreams![route.upstream];
    const policies = policiesFor(route);
    laneRoutes.push({ route, policies, upstream });
    app.route({
      method: route.method,
      url: route.url,
      ...(route.largeBody ? { bodyLimit: Math.max(config.http.bodyLimit, config.attachments.maxBytes + MULTIPART_FRAMING_BYTES) } : {}),
      handler: async (request, reply) => {
        await policies(request, reply);
        const response = await upstream.forward({
          method: request.method,
          path: request.url,
          headers: request.headers,
          body: request.body as Buffer | undefined,
          forwardedFor: forwardedFor(request),
          ...(deps.gatewayProof ? { proof: deps.gatewayProof } : {}),
          requestId: request.id,
        });
        return reply.code(response.status).headers(response.headers).send(response.body);
      },
    });
  }

  // Bodiless reads and deletes of the proxied routes skip Fastify's pipeline, with every policy, header, metric
  // and access line of the route above (pass-through.ts, docs/adr/0530). Behind TRUSTED_PROXIES the client's
  // address comes from X-Forwarded-For, which only Fastify's path works out.
  if (upstreams && config.trustedProxies.length === 0) usePassThrough(app, (kit) => passThroughLane(kit, laneRoutes, deps.gatewayProof));

  // Public health and status answer from one result computed at most once a second, so public traffic
  // cannot multiply into upstream health calls and database reads.
  const currentStatus = cachedFor(1_000, () =>
    collectStatus({
      version: config.version,
      upstreamHealthy: (name) => backends[name].healthy(),
      limitsDegraded: limits.degraded,
      maintenance: () => deps.maintenance?.current(),
      openIncidents: () => deps.incidents?.listOpen() ?? Promise.resolve([]),
    }),
  );

  // Public health says only whether the platform serves, and which version: details live on the ops port.
  // A Redis outage still serves (limits run on local budgets), so it reads "degraded" with a 200.
  app.get("/health", async (_request, reply) => {
    const { components } = await currentStatus();
    const servicesUp = components.every((component) => component.status !== "outage");
    const degraded = !servicesUp || components.some((component) => component.status === "degraded");
    return reply.code(servicesUp ? 200 : 503).send({ status: degraded ? "degraded" : "ok", version: config.version });
  });

  app.get("/status", async (_request, reply) => {
    const status = await currentStatus();
    return reply
      .header("cache-control", "no-cache")
      // The page is static HTML with one inline style: nothing may load, run, or frame it.
      .header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
      .header("x-frame-options", "DENY")
      .type("text/html; charset=utf-8")
      .send(renderStatusPage(status));
  });
  app.get("/status.json", async (_request, reply) => reply.header("cache-control", "no-cache").send(await currentStatus()));

  return {
    app,
    breakers: () => (composed ? [composed.auth.breaker.snapshot(), composed.users.breaker.snapshot()] : [...upstreams!.auth.breakers(), ...upstreams!.users.breakers()]),
    traffic: () => (upstreams ? [upstreams.auth.view(), upstreams.users.view()] : []),
    close: async () => {
      await Promise.all([upstreams?.auth.close(), upstreams?.users.close(), limits.close()]);
    },
  };
}
