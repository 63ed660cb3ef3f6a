import type { ActiveUsers } from "../../platform/active-users.ts";
import type { Config } from "../../platform/config.ts";
import { AppError } from "../../platform/errors.ts";
import { createHttpApp, type FastifyInstance, type FastifyRequest } from "../../platform/http.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Metrics } from "../../platform/metrics.ts";
import { createTokenVerifier } from "../../platform/token-verifier.ts";
import { gatewayRoutes } from "./routes.ts";
import { renderStatusPage } from "./status-page.ts";
import { createUpstream, type Upstream } from "./upstream.ts";

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
}

/** The public edge: checks tokens early, then proxies each known route to its service over keep-alive pools. */
export function createGatewayApp(deps: GatewayDeps): { app: FastifyInstance; close(): Promise<void> } {
  const { config, metrics } = deps;
  const app = createHttpApp({
    service: "gateway",
    logger: deps.logger.child({ service: "gateway" }),
    metrics,
    bodyLimit: config.http.bodyLimit,
    trustProxy: config.trustedProxies,
  });
  const onError = (upstream: string) => (reason: string) => metrics.upstreamErrors.inc({ upstream, reason });
  const upstreams: Record<"auth" | "users", Upstream> = {
    auth: createUpstream("auth", deps.upstreams.auth, onError("auth")),
    users: createUpstream("users", deps.upstreams.users, onError("users")),
  };
  const verifier = createTokenVerifier({
    jwksUrl: () => new URL("/.well-known/jwks.json", deps.upstreams.auth).href,
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
  });

  // Bodies pass through untouched (the services parse them); the limit still applies here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  for (const route of gatewayRoutes) {
    const upstream = upstreams[route.upstream];
    app.route({
      method: route.method,
      url: route.url,
      handler: async (request, reply) => {
        if (route.requiresToken) {
          const result = await verifier.verify(request.headers.authorization);
          if (!result.ok) {
            throw result.reason === "missing"
              ? new AppError("unauthorized", "Send an access token: Authorization: Bearer <token>.")
              : new AppError("invalid_token", "The access token is invalid or expired.");
          }
          deps.activeUsers.seen(result.claims.sub);
        }
        const response = await upstream.forward({
          method: request.method,
          path: request.url,
          headers: request.headers,
          body: request.body as Buffer | undefined,
          forwardedFor: forwardedFor(request),
          requestId: request.id,
        });
        return reply.code(response.status).headers(response.headers).send(response.body);
      },
    });
  }

  const overall = async () => {
    const [auth, users] = await Promise.all([upstreams.auth.healthy(), upstreams.users.healthy()]);
    return { ok: auth && users, components: { gateway: true, auth, users } };
  };

  // Public health says only whether the platform serves, and which version: details live on the ops port.
  app.get("/health", async (_request, reply) => {
    const { ok } = await overall();
    return reply.code(ok ? 200 : 503).send({ status: ok ? "ok" : "degraded", version: config.version });
  });

  app.get("/status", async (_request, reply) => {
    const { ok, components } = await overall();
    return reply.code(ok ? 200 : 503).type("text/html; charset=utf-8").send(renderStatusPage(config.version, components));
  });

  return {
    app,
    close: async () => {
      await Promise.all([upstreams.auth.close(), upstreams.users.close()]);
    },
  };
}
