import { createActiveUsers } from "./platform/active-users.ts";
import type { CommandIO, PlatformCommand } from "./platform/command.ts";
import type { Config } from "./platform/config.ts";
import { closePlatform, openPlatform, type PlatformContext } from "./platform/context.ts";
import { acquireDataLock, type DataLock, type LockHolder } from "./platform/data-lock.ts";
import type { HealthCheck } from "./platform/health.ts";
import { listen, type FastifyInstance } from "./platform/http.ts";
import type { Clock } from "./platform/clock.ts";
import { createMetrics, type Metrics } from "./platform/metrics.ts";
import { createOpsApp } from "./platform/ops-app.ts";
import { loadOrCreateSecret } from "./platform/secrets.ts";
import { createAuthApp } from "./services/auth/auth.app.ts";
import { createGatewayApp } from "./services/gateway/gateway.app.ts";
import { createUsersApp } from "./services/users/users.app.ts";

export type Role = "gateway" | "auth" | "users";

/** A start-up problem the operator can fix; its message is shown as it is. */
export class StartError extends Error {}

export interface StartOptions {
  /** Which services this process runs: all three for `azora up`, one for `azora serve`. */
  roles: Role[];
  commands?: PlatformCommand[];
  clock?: Clock;
  onStaleLock?: (holder: LockHolder) => void;
}

export interface RunningPlatform {
  urls: { gateway?: string; auth?: string; users?: string; ops: string };
  opsToken: string;
  context: PlatformContext;
  metrics: Metrics;
  /** Graceful stop: not ready, finish in-flight requests (up to the deadline), close pools, release the lock. */
  stop(): Promise<void>;
}

const loopback = "127.0.0.1";
const urlOf = (host: string, port: number) => `http://${host === "0.0.0.0" || host === "::" ? loopback : host}:${port}`;

/** The composition root of a serving process: lock → context → services → gateway → ops listener. */
export async function startPlatform(config: Config, options: StartOptions): Promise<RunningPlatform> {
  const allInOne = options.roles.length > 1;
  const embedded = !config.database.url;
  const lock: DataLock | undefined = embedded ? await acquireDataLock(config.paths.state, options.onStaleLock ?? (() => undefined)) : undefined;
  const listening: { name: string; app: FastifyInstance }[] = [];
  let context: PlatformContext | undefined;
  let ready = false;
  let closeGateway: (() => Promise<void>) | undefined;

  const stop = async () => {
    ready = false;
    // Front to back: the gateway drains first while the services behind it still answer.
    for (const { app } of listening) await closeWithDeadline(app, config.http.shutdownTimeoutMs);
    await closeGateway?.();
    if (context) await closePlatform(context);
    await lock?.release();
  };

  try {
    // `azora up` migrates (it is the only process); split services wait for the `azora migrate` Job.
    context = await openPlatform(config, { migrate: embedded || allInOne, ...(options.clock ? { clock: options.clock } : {}) });
    const opsToken = await loadOrCreateSecret(config.paths.secrets, "ops-token", config.ops.token);
    const activeUsers = createActiveUsers(context.cache, context.clock);
    const db = context.db;
    const metrics = createMetrics({
      service: allInOne ? "azora" : (options.roles[0] ?? "azora"),
      version: config.version,
      sources: { activeConnections: () => db.activeConnections(), queryCount: () => db.queryCount(), activeUsers: activeUsers.count },
    });

    const urls: RunningPlatform["urls"] = { ops: "" };
    // In one process the services take free loopback ports and the gateway reaches them over HTTP, as in production.
    const serviceHost = allInOne ? loopback : config.gateway.host;
    const servicePort = allInOne ? 0 : config.gateway.port;
    let authUrl = config.upstreams.auth ?? "";
    if (!options.roles.includes("auth") && !authUrl) throw new StartError("AUTH_URL is not set: services other than auth need it to fetch the signing keys.");
    const serviceDeps = { context, metrics, jwksUrl: () => new URL("/.well-known/jwks.json", authUrl).href };

    if (options.roles.includes("auth")) {
      const app = await createAuthApp(serviceDeps);
      authUrl = urls.auth = urlOf(serviceHost, await listen(app, serviceHost, servicePort));
      listening.push({ name: "auth", app });
    }
    if (options.roles.includes("users")) {
      const app = createUsersApp(serviceDeps);
      urls.users = urlOf(serviceHost, await listen(app, serviceHost, servicePort));
      listening.push({ name: "users", app });
    }
    if (options.roles.includes("gateway")) {
      const upstreams = { auth: urls.auth ?? config.upstreams.auth, users: urls.users ?? config.upstreams.users };
      if (!upstreams.auth || !upstreams.users) throw new StartError("The gateway needs AUTH_URL and USERS_URL when it runs on its own.");
      const gateway = createGatewayApp({ config, logger: context.logs.api, metrics, activeUsers, upstreams: { auth: upstreams.auth, users: upstreams.users } });
      closeGateway = gateway.close;
      urls.gateway = urlOf(config.gateway.host, await listen(gateway.app, config.gateway.host, config.gateway.port));
      listening.unshift({ name: "gateway", app: gateway.app });
    }

    const commands = new Map((options.commands ?? []).map((command) => [command.name, command]));
    const live = context;
    const ops = createOpsApp({
      service: allInOne ? "azora" : (options.roles[0] ?? "azora"),
      version: config.version,
      logger: context.logs.api.child({ service: "ops" }),
      metrics,
      checks: healthChecks(context, urls),
      isReady: () => ready,
      opsToken,
      runCommand: async (name: string, args: Record<string, unknown>, io: CommandIO) => {
        const command = commands.get(name);
        if (!command) {
          io.err(`unknown command "${name}"`);
          return 2;
        }
        return command.run(live, args, io);
      },
    });
    const opsPort = await listen(ops, config.ops.host, config.ops.port);
    listening.push({ name: "ops", app: ops });
    urls.ops = urlOf(config.ops.host, opsPort);
    await lock?.announce(config.ops.host === "0.0.0.0" ? loopback : config.ops.host, opsPort);
    ready = true;
    return { urls, opsToken, context, metrics, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

function healthChecks(context: PlatformContext, urls: RunningPlatform["urls"]): HealthCheck[] {
  const checks: HealthCheck[] = [
    { name: "database", run: async () => void (await context.db.query("SELECT 1")) },
    { name: "cache", run: () => context.cache.ping() },
  ];
  for (const [name, url] of Object.entries(urls)) {
    if (name === "ops" || !url) continue;
    checks.push({
      name,
      run: async () => {
        const response = await fetch(new URL("/health", url), { signal: AbortSignal.timeout(2_000) });
        await response.body?.cancel();
        if (!response.ok) throw new Error(`answered ${response.status}`);
      },
    });
  }
  return checks;
}

/** Closes a listener; requests still running at the deadline have their connections cut. */
async function closeWithDeadline(app: FastifyInstance, deadlineMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      app.server.closeAllConnections();
      resolve();
    }, deadlineMs);
  });
  await Promise.race([app.close(), deadline]);
  clearTimeout(timer);
}
