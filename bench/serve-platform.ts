import { createActiveUsers } from "../src/platform/active-users.ts";
import type { Cache } from "../src/platform/cache/cache.ts";
import { loadConfig } from "../src/platform/config.ts";
import { listen } from "../src/platform/http.ts";
import { startPlatform } from "../src/runtime.ts";
import { createGatewayApp } from "../src/services/gateway/gateway.app.ts";
import { createUsersApp } from "../src/services/users/users.app.ts";
import type { ServingRole } from "./serve.ts";

const loopback = "127.0.0.1";

/**
 * The whole platform as `azora up` runs it (gateway, auth, users on a temporary DATA_DIR), plus two more
 * gateways built from the same code in the same process:
 *  - `edge`: the gateway in front of the echo server (USERS_URL = echo), tokens checked against the real auth;
 *  - `uncached`: the gateway in front of a second users app whose cache never holds an entry, so every
 *    GET /api/user/:id takes the database path.
 */
export async function startBenchPlatform(options: { echoUrl: string; dataDir: string }): Promise<ServingRole> {
  const loaded = loadConfig({
    PORT: "0",
    HOST: loopback,
    OPS_PORT: "0",
    OPS_HOST: loopback,
    DATA_DIR: options.dataDir,
    LOG_STDOUT: "false",
    // The production default: every request writes its access line to DATA_DIR/logs/api.log.
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL || "info",
    SHUTDOWN_TIMEOUT_MS: "2000",
  });
  if (!loaded.ok) throw new Error(`bench config is invalid: ${loaded.problems.join("; ")}`);
  const config = loaded.config;

  const platform = await startPlatform(config, { roles: ["gateway", "auth", "users"] });
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const { context, metrics } = platform;
    const authUrl = platform.urls.auth;
    if (!authUrl || !platform.urls.gateway) throw new Error("the platform did not start its gateway and auth service");
    const activeUsers = createActiveUsers(context.cache, context.clock);

    const edge = createGatewayApp({ config, logger: context.logs.api, metrics, activeUsers, upstreams: { auth: authUrl, users: options.echoUrl } });
    stops.push(() => edge.close(), () => edge.app.close());
    const edgePort = await listen(edge.app, loopback, 0);

    // Same interface, nothing kept: every lookup misses, so every read goes to the database.
    const real = context.cache;
    const neverHolds: Cache = {
      kind: real.kind,
      get: async () => undefined,
      set: async () => undefined,
      del: async () => undefined,
      touch: (set, member, atMs) => real.touch(set, member, atMs),
      countSince: (set, sinceMs) => real.countSince(set, sinceMs),
      ping: () => real.ping(),
      close: async () => undefined,
    };
    const users = createUsersApp({
      context: { ...context, cache: neverHolds },
      metrics,
      jwksUrl: () => new URL("/.well-known/jwks.json", authUrl).href,
    });
    stops.push(() => users.close());
    const usersPort = await listen(users, loopback, 0);
    const uncachedUsersUrl = `http://${loopback}:${usersPort}`;

    const uncached = createGatewayApp({ config, logger: context.logs.api, metrics, activeUsers, upstreams: { auth: authUrl, users: uncachedUsersUrl } });
    stops.push(() => uncached.close(), () => uncached.app.close());
    const uncachedPort = await listen(uncached.app, loopback, 0);

    return {
      info: {
        gateway: platform.urls.gateway,
        auth: authUrl,
        users: platform.urls.users,
        edge: `http://${loopback}:${edgePort}`,
        uncached: `http://${loopback}:${uncachedPort}`,
        uncachedUsers: uncachedUsersUrl,
        logLevel: config.log.level,
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
