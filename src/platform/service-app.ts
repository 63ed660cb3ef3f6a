import type { PlatformContext } from "./context.ts";
import { createHttpApp, type FastifyInstance } from "./http.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import { createTokenVerifier, type TokenVerifier } from "./token-verifier.ts";

/** What the runtime hands to each service when it builds the service's HTTP app. */
export interface ServiceDeps {
  context: PlatformContext;
  metrics: Metrics;
  /** Where the auth service publishes its keys (the service's own URL for auth itself). */
  jwksUrl: () => string;
}

/** A backend service's app: the house HTTP kit, the shared token verifier, and a small `/health` for the gateway. */
export function createServiceApp(
  name: string,
  deps: ServiceDeps,
  logger: Logger,
): { app: FastifyInstance; verifier: TokenVerifier } {
  const { config } = deps.context;
  const app = createHttpApp({
    service: name,
    logger: logger.child({ service: name }),
    metrics: deps.metrics,
    bodyLimit: config.http.bodyLimit,
    // Services sit behind the gateway: its X-Forwarded-For is trusted, nobody else's.
    trustProxy: ["127.0.0.1", "::1", ...config.trustedProxies],
  });
  const verifier = createTokenVerifier({ jwksUrl: deps.jwksUrl, issuer: config.tokens.issuer, audience: config.tokens.audience });
  app.get("/health", async () => ({ status: "ok", version: config.version }));
  return { app, verifier };
}
