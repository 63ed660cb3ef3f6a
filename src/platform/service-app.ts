import { timingSafeEqual } from "node:crypto";
import type { PlatformContext } from "./context.ts";
import { dependencyChecks } from "./health-checks.ts";
import { healthHttpStatus, runHealthChecks } from "./health.ts";
import { createHttpApp, type FastifyInstance } from "./http.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import { createRevocationCheck } from "./revocation/revocation.ts";
import type { PasswordGuard } from "../services/auth/password-guard.ts";
import type { SecurityPolicy } from "../services/security/policy.ts";
import { createTokenVerifier, type TokenVerifier } from "./token-verifier.ts";

/** What the runtime hands to each service when it builds the service's HTTP app. */
export interface ServiceDeps {
  context: PlatformContext;
  metrics: Metrics;
  /** Where the auth service publishes its keys (the service's own URL for auth itself). */
  jwksUrl: () => string;
  /** The one limiter in front of every password check, shared by the services of this process. */
  passwordGuard: PasswordGuard;
  /**
   * In `azora up` the services listen on loopback ports any local process can reach: only requests that
   * carry this per-process secret (set by the in-process gateway) have their X-Forwarded-* believed.
   */
  gatewayProof?: string;
  /** The security policy in force, polled (policy-watcher.ts); absent: the shipped defaults. */
  securityPolicy?: { current(): SecurityPolicy };
}

/** The header the in-process gateway proves itself with (never accepted from clients: the gateway drops it). */
export const GATEWAY_PROOF_HEADER = "x-azora-gateway";
const forwardedHeaders = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"];

/**
 * A service's public routes, built once and registered where they are served: on the service's own app
 * (its listener: `azora serve`, and the loopback listeners of `azora up`), and in `azora up` also inside
 * the gateway's app, behind the gateway's policies (see services/gateway/in-process.ts).
 */
export interface ServiceRoutes {
  name: "auth" | "users";
  /** The service's logger (`service` bound): its handlers' own lines go here wherever the routes are served. */
  logger: Logger;
  /** The service's own token verifier: its handlers check every token themselves, in either shape. */
  verifier: TokenVerifier;
  /** Registers the public routes (exactly the gateway's route table for this service) on `app`. */
  register(app: FastifyInstance): void;
  /** What the service's `/health` reports: its dependencies (database, cache). */
  health(): ReturnType<typeof runHealthChecks>;
}

/** The service-side pieces every service shares: its logger, the shared token verifier, its health checks. */
export function serviceBasics(name: ServiceRoutes["name"], deps: ServiceDeps, logger: Logger): Omit<ServiceRoutes, "register"> {
  const verifier = createTokenVerifier({
    jwksUrl: deps.jwksUrl,
    ...verifierPolicy(deps.context.config),
    clock: deps.context.clock,
    revocation: createRevocationCheck(deps.context),
  });
  const checks = dependencyChecks(deps.context, { databaseCritical: true });
  return { name, logger: logger.child({ service: name }), verifier, health: () => runHealthChecks(checks) };
}

/**
 * A backend service's app: the house HTTP kit, the service's routes, and a `/health` for the gateway
 * that names this process's dependencies (database, cache), so the gateway's ops /health can report them.
 */
export function createServiceApp(routes: ServiceRoutes, deps: ServiceDeps): FastifyInstance {
  const { config } = deps.context;
  const app = createHttpApp({
    service: routes.name,
    logger: routes.logger,
    metrics: deps.metrics,
    bodyLimit: config.http.bodyLimit,
    limits: config.http.limits,
    // X-Forwarded-For is believed only from TRUSTED_PROXIES (in split mode: the gateway's addresses) and,
    // in `azora up`, from the in-process gateway, which proves itself with a secret (below). A loopback
    // caller as such is trusted no more than any other.
    trustProxy: deps.gatewayProof ? ["127.0.0.1", "::1", ...config.trustedProxies] : config.trustedProxies,
  });
  if (deps.gatewayProof) {
    const proof = Buffer.from(deps.gatewayProof);
    const fromGateway = (given: unknown) => {
      if (typeof given !== "string") return false;
      const bytes = Buffer.from(given);
      return bytes.length === proof.length && timingSafeEqual(bytes, proof);
    };
    app.addHook("onRequest", (request, _reply, done) => {
      // Runs before anything reads request.ip (Fastify computes it lazily from the raw headers).
      if (!fromGateway(request.headers[GATEWAY_PROOF_HEADER])) for (const name of forwardedHeaders) delete request.raw.headers[name];
      done();
    });
  }
  app.get("/health", async (_request, reply) => {
    const report = await routes.health();
    return reply.code(healthHttpStatus(report.status)).send({ status: report.status, version: config.version, checks: report.checks });
  });
  routes.register(app);
  return app;
}

/** The token checks every verifier of the platform applies (issuer, audience, lifetime, skew). */
export function verifierPolicy(config: { tokens: { issuer: string; audience: string; maxLifetimeSeconds: number; clockSkewSeconds: number; jwksCacheSeconds: number } }) {
  const { issuer, audience, maxLifetimeSeconds, clockSkewSeconds, jwksCacheSeconds } = config.tokens;
  return { issuer, audience, maxLifetimeSeconds, clockSkewSeconds, jwksCacheSeconds };
}
