import { createActiveUsers } from "../src/platform/active-users.ts";
import type { Cache } from "../src/platform/cache/cache.ts";
import { loadConfig } from "../src/platform/config.ts";
import { listen } from "../src/platform/http.ts";
import { startPlatform } from "../src/runtime.ts";
import { createGatewayApp, type GatewayFeatures } from "../src/services/gateway/gateway.app.ts";
import { createUsersApp, createUsersRoutes } from "../src/services/users/users.app.ts";
import { createAuthRoutes } from "../src/services/auth/auth.app.ts";
import { createPasswordGuard } from "../src/services/auth/password-guard.ts";
import { logAccountKeyer } from "../src/platform/log-account-key.ts";
import { loginGuardPolicy } from "../src/services/security/policy-watcher.ts";
import { shippedPolicy } from "../src/services/security/policy.ts";
import type { ServingRole } from "./serve.ts";

const loopback = "127.0.0.1";

/**
 * The whole platform as `azora up` runs it (gateway, auth, users on a temporary DATA_DIR), plus more
 * gateways built from the same code in the same process:
 *  - `edge`: the gateway in front of the echo server (USERS_URL = echo), every feature on, tokens checked
 *    against the real auth, limits shared in Redis when REDIS_URL is set (in-process otherwise);
 *  - `ladder`: the same gateway with its features switched on one at a time (GatewayFeatures), as Kong
 *    measures its plugins: pure proxy, + metrics, + access line, + token check, + rate limit (Redis with
 *    REDIS_URL), and, with REDIS_URL, `gateway-local`: every feature with in-process limits;
 *  - `uncached`: a gateway composed like the platform's (BENCH_COMPOSITION) with a users service whose cache
 *    never holds an entry, so every GET /api/user/:id takes the database path.
 * BENCH_COMPOSITION=proxy runs `azora up` as it was before docs/adr/0195 (gateway → services over loopback HTTP).
 */
export async function startBenchPlatform(options: { echoUrl: string; dataDir: string }): Promise<ServingRole> {
  const env = {
    PORT: "0",
    HOST: loopback,
    OPS_PORT: "0",
    OPS_HOST: loopback,
    DATA_DIR: options.dataDir,
    LOG_STDOUT: "false",
    // The production default: every request writes its access line to DATA_DIR/logs/api.log.
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL || "info",
    SHUTDOWN_TIMEOUT_MS: "2000",
    // Limits stay on (their check is part of the cost measured) but far above one client's load: with the
    // defaults (3,000 reads a minute per user) most of a run was 429s, and wrk counted them as errors.
    RATE_LIMIT_READ: "10000000",
    RATE_LIMIT_WRITE: "10000000",
    RATE_LIMIT_AUTH: "10000000",
  };
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(`bench config is invalid: ${loaded.problems.join("; ")}`);
  const config = loaded.config;
  // The platform itself stays embedded; only the edge gateways share their limits in this Redis.
  const redisUrl = process.env.REDIS_URL || undefined;
  const withRedis = redisUrl ? loadConfig({ ...env, REDIS_URL: redisUrl }) : undefined;
  if (withRedis && !withRedis.ok) throw new Error(`bench config with REDIS_URL is invalid: ${withRedis.problems.join("; ")}`);
  const edgeConfig = withRedis?.ok ? withRedis.config : config;

  const composition = process.env.BENCH_COMPOSITION === "proxy" ? "proxy" : "in-process";
  const platform = await startPlatform(config, { roles: ["gateway", "auth", "users"], composition });
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const { context, metrics } = platform;
    const authUrl = platform.urls.auth;
    if (!authUrl || !platform.urls.gateway) throw new Error("the platform did not start its gateway and auth service");
    const activeUsers = createActiveUsers(context.cache, context.clock);

    const edgeGateway = async (gatewayConfig: typeof config, features?: Partial<GatewayFeatures>) => {
      const edge = createGatewayApp({ config: gatewayConfig, logger: context.logs.api, metrics, activeUsers, upstreams: { auth: authUrl, users: options.echoUrl }, ...(features ? { features } : {}) });
      stops.push(() => edge.close(), () => edge.app.close());
      return `http://${loopback}:${await listen(edge.app, loopback, 0)}`;
    };
    const none: GatewayFeatures = { metrics: false, accessLog: false, tokenCheck: false, rateLimits: false, breakers: false };
    const ladder: Record<string, string> = {
      "gw-proxy": await edgeGateway(edgeConfig, none),
      "gw-metrics": await edgeGateway(edgeConfig, { ...none, metrics: true }),
      "gw-access": await edgeGateway(edgeConfig, { ...none, metrics: true, accessLog: true }),
      "gw-token": await edgeGateway(edgeConfig, { ...none, metrics: true, accessLog: true, tokenCheck: true }),
      "gw-limit": await edgeGateway(edgeConfig, { metrics: true, accessLog: true, tokenCheck: true, rateLimits: true, breakers: false }),
    };
    const edgeUrl = await edgeGateway(edgeConfig);
    if (withRedis) ladder["gateway-local"] = await edgeGateway(config);

    // Same interface, nothing kept: every lookup misses, so every read goes to the database.
    const real = context.cache;
    // The users service reads through the coherent cache: it must miss too.
    const coherentNeverHolds = { ...context.coherentCache, read: async () => ({ outcome: "miss" as const, ticket: 0 }), store: async () => undefined };
    const neverHolds: Cache = {
      kind: real.kind,
      get: async () => undefined,
      set: async () => undefined,
      del: async () => undefined,
      touch: (set, member, atMs) => real.touch(set, member, atMs),
      forget: (set, member) => real.forget(set, member),
      countSince: (set, sinceMs) => real.countSince(set, sinceMs),
      ping: () => real.ping(),
      connectionLosses: () => real.connectionLosses(),
      close: async () => undefined,
    };
    const serviceDeps = {
      context: { ...context, cache: neverHolds, coherentCache: coherentNeverHolds },
      metrics,
      jwksUrl: () => new URL("/.well-known/jwks.json", authUrl).href,
      passwordGuard: createPasswordGuard({ config, clock: context.clock, eventLog: context.logs.auth, logAccount: logAccountKeyer(context.masterSecret), policy: () => loginGuardPolicy(config, shippedPolicy()) }),
    };
    const users = createUsersApp(serviceDeps);
    stops.push(() => users.close());
    const usersPort = await listen(users, loopback, 0);
    const uncachedUsersUrl = `http://${loopback}:${usersPort}`;

    const uncached = createGatewayApp({
      config,
      logger: context.logs.api,
      metrics,
      activeUsers,
      upstreams: { auth: authUrl, users: uncachedUsersUrl },
      ...(composition === "in-process" ? { inProcess: { auth: await createAuthRoutes(serviceDeps), users: createUsersRoutes(serviceDeps) } } : {}),
    });
    stops.push(() => uncached.close(), () => uncached.app.close());
    const uncachedPort = await listen(uncached.app, loopback, 0);

    return {
      info: {
        gateway: platform.urls.gateway,
        auth: authUrl,
        users: platform.urls.users,
        edge: edgeUrl,
        ladder,
        limits: redisUrl ? "redis" : "in-process",
        uncached: `http://${loopback}:${uncachedPort}`,
        uncachedUsers: uncachedUsersUrl,
        logLevel: config.log.level,
        composition,
      },
      stop: async () => {
        // Front to back, like the platform itself: gateways first, then the extra users app, then the platform.
        for (const stop of [...stops].reverse()) await stop().catch(() => undefined);
        await platform.stop();
      },
    };
  } catch (error) {
    for (const stop of [...stops].reverse()) await stop().catch(() => undefined);
    await platform.stop();
    throw error;
  }
}
