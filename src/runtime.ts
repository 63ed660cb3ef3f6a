import { randomBytes } from "node:crypto";
import { readBackupStatus } from "./ops/backup/backup-store.ts";
import { readRuns } from "./ops/backup/pgbackrest.ts";
import { backupPlanJob } from "./ops/backup/backup-plan.ts";
import { guideBackupPlan } from "./ops/backup/backup-plan-tasks.ts";
import { recoverInterruptedRestore } from "./ops/backup/restore-maintenance.ts";
import { createActiveUsers } from "./platform/active-users.ts";
import type { CommandIO, PlatformCommand } from "./platform/command.ts";
import type { Config } from "./platform/config.ts";
import { closePlatform, openPlatform, type PlatformContext } from "./platform/context.ts";
import { acquireDataLock, type DataLock, type LockHolder } from "./platform/data-lock.ts";
import type { HealthCheck } from "./platform/health.ts";
import { dependencyChecks, listenerCheck, upstreamCheck } from "./platform/health-checks.ts";
import { drain, listen, type FastifyInstance } from "./platform/http.ts";
import { LogEvent } from "./platform/log-events.ts";
import type { Clock } from "./platform/clock.ts";
import { createMetrics, type Metrics } from "./platform/metrics.ts";
import { createOpsApp } from "./platform/ops-app.ts";
import { computeFigures } from "./platform/dashboard/figures.ts";
import { createMetricHistory, type MetricHistory } from "./platform/dashboard/metric-history.ts";
import { statfs } from "node:fs/promises";
import { followedOpsToken } from "./platform/ops-token.ts";
import { loadOrCreateSecret } from "./platform/secrets.ts";
import { startScheduler, type Scheduler } from "./platform/scheduler.ts";
import { createAuthRoutes } from "./services/auth/auth.app.ts";
import { createServiceApp, type ServiceRoutes } from "./platform/service-app.ts";
import { createPasswordGuard, type PasswordGuard } from "./services/auth/password-guard.ts";
import { sizeHashingPool } from "./services/auth/argon2-queue.ts";
import { logAccountKeyer } from "./platform/log-account-key.ts";
import { createMailOutboxRepository } from "./services/auth/mail-outbox.repository.ts";
import { createPasswordResetTokensRepository } from "./services/auth/password-reset-tokens.repository.ts";
import { createRefreshTokensRepository } from "./services/auth/refresh-tokens.repository.ts";
import { tokenPurgeJob } from "./services/auth/token-purge.ts";
import { createGatewayApp } from "./services/gateway/gateway.app.ts";
import { createIncidentsRepository } from "./services/gateway/incidents.repository.ts";
import { createMaintenanceWatcher } from "./services/gateway/maintenance.ts";
import { createPolicyWatcher, initialPolicy, loginGuardPolicy } from "./services/security/policy-watcher.ts";
import { createMaintenanceRepository } from "./services/gateway/maintenance.repository.ts";
import { createTrafficRepository } from "./services/gateway/traffic/traffic.repository.ts";
import { createTrafficWatcher } from "./services/gateway/traffic/traffic-watcher.ts";
import { createUsersRoutes } from "./services/users/users.app.ts";
import { createRevocationCheck } from "./platform/revocation/revocation.ts";

export type Role = "gateway" | "auth" | "users";

/** A start-up problem the operator can fix; its message is shown as it is. */
export class StartError extends Error {}

export interface StartOptions {
  /** Which services this process runs: all three for `azora up`, one for `azora serve`. */
  roles: Role[];
  commands?: PlatformCommand[];
  clock?: Clock;
  onStaleLock?: (holder: LockHolder) => void;
  /** The embedded data's lock names a process that may be gone: start-up waits for its heartbeat to stop. */
  onLockWait?: (holder: LockHolder, waitMs: number) => void;
  /** Another process took the embedded data's lock from this one: stop serving it. */
  onLockLost?: (error: Error) => void;
  /** Told about a dependency that is degraded at start (Redis unreachable); the process starts anyway. */
  onWarning?: (message: string) => void;
  /**
   * How the gateway reaches the services when all three run here: `in-process` (the default of `azora up`)
   * serves their routes inside the gateway's app; `proxy` sends them over loopback HTTP, as `azora serve`
   * does between processes (the end-to-end suites run both; docs/adr/0195).
   */
  composition?: "in-process" | "proxy";
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
/**
 * How long a stopping listener keeps its open connections after it stopped accepting new ones: long enough
 * for a keep-alive client with a request on its way to be answered (with Connection: close) instead of
 * reset, short enough not to hold up a stop for clients that merely keep a connection open.
 */
const DRAIN_GRACE_MS = 1_000;
const urlOf = (host: string, port: number) => `http://${host === "0.0.0.0" || host === "::" ? loopback : host}:${port}`;

/** The composition root of a serving process: lock → context → services → gateway → schedulers → ops listener. */
export async function startPlatform(config: Config, options: StartOptions): Promise<RunningPlatform> {
  const allInOne = options.roles.length > 1;
  const embedded = !config.database.url;
  const lock: DataLock | undefined = embedded
    ? await acquireDataLock(config.paths.state, {
        onStale: options.onStaleLock ?? (() => undefined),
        ...(options.onLockWait ? { onWait: options.onLockWait } : {}),
        onCompromised: (error) => {
          context?.logs.api.fatal({ event: LogEvent.DATA_LOCK_LOST, err: error }, "the data directory's lock was taken by another process");
          options.onLockLost?.(error);
        },
      })
    : undefined;
  const listening: { name: string; app: FastifyInstance }[] = [];
  let context: PlatformContext | undefined;
  let ready = false;
  let closeGateway: (() => Promise<void>) | undefined;
  let scheduler: Scheduler | undefined;
  let breakers: (() => unknown[]) | undefined;
  let stopMaintenanceWatcher: (() => void) | undefined;
  let stopTrafficWatcher: (() => void) | undefined;
  let trafficView: (() => unknown[]) | undefined;
  let stopPolicyWatcher: (() => void) | undefined;
  let passwordGuard: PasswordGuard | undefined;
  let history: MetricHistory | undefined;

  const stop = async () => {
    ready = false;
    const deadline = Date.now() + config.http.shutdownTimeoutMs;
    const remaining = () => Math.max(0, deadline - Date.now());
    // Front to back: the gateway drains first while the services behind it still answer; then its pools to
    // them close, so the services' drains find no idle connection of the gateway's left open.
    for (const { name, app } of listening) {
      await drain(app, Math.min(DRAIN_GRACE_MS, remaining()));
      await closeWithDeadline(app, remaining());
      // The access lines of every request answered until now reach api.log before anything else stops.
      context?.logs.flush();
      if (name === "gateway") await closeUpstreams();
    }
    stopMaintenanceWatcher?.();
    stopTrafficWatcher?.();
    stopPolicyWatcher?.();
    history?.stop();
    await closeUpstreams();
    await scheduler?.stop();
    await passwordGuard?.close();
    if (context) await closePlatform(context);
    await lock?.release();
  };
  const closeUpstreams = async () => {
    const close = closeGateway;
    closeGateway = undefined;
    await close?.();
  };

  try {
    // `azora up` migrates (it is the only process); split services wait for the `azora migrate` Job.
    context = await openPlatform(config, {
      serving: true,
      migrate: embedded || allInOne,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.onWarning ? { warn: options.onWarning } : {}),
    });
    // A restore killed halfway left maintenance on (and maybe a half-loaded copy): undo both before serving.
    const recovered = await recoverInterruptedRestore(context).catch((error: unknown) => {
      context?.logs.api.error({ event: LogEvent.RESTORE_INTERRUPTED, err: error }, "could not recover from an interrupted restore");
      return undefined;
    });
    if (recovered) options.onWarning?.(`${recovered}.`);
    // Replays the cache invalidation log before the first request, then once a second (see coherent-cache.ts).
    await context.coherentCache.start();
    const opsToken = await loadOrCreateSecret(config.paths.secrets, "ops-token", config.ops.token);
    // Followed from its file, so `azora secrets rotate` reaches this process without a restart.
    const acceptedOpsToken = followedOpsToken(config.paths.secrets, opsToken, config.ops.token);
    const activeUsers = createActiveUsers(context.cache, context.clock);
    const db = context.db;
    const logs = context.logs;
    const clock = context.clock;
    const metrics = createMetrics({
      service: allInOne ? "azora" : (options.roles[0] ?? "azora"),
      version: config.version,
      sources: {
        activeConnections: () => db.activeConnections(),
        maxConnections: () => db.maxConnections(),
        queryCount: () => db.queryCount(),
        activeUsers: activeUsers.count,
        backupStatus: async () => readBackupStatus(config.paths.backups, await readRuns(config)),
        logWriteErrors: () => logs.writeErrors(),
        // The auth service owns the outbox; other roles report no mail series. Off the served-query count.
        ...(options.roles.includes("auth") ? { mailOutbox: () => createMailOutboxRepository(db.background).pendingByKind(new Date(clock.now())) } : {}),
      },
    });

    const urls: RunningPlatform["urls"] = { ops: "" };
    // In one process the services still take free loopback ports: they serve the signing keys to the token
    // verifiers, and in the proxy composition the gateway reaches them over HTTP, as in production. In the
    // in-process composition public requests never take that hop: the gateway runs the same routes itself.
    const inProcess = allInOne && options.composition !== "proxy";
    const serviceHost = allInOne ? loopback : config.gateway.host;
    const servicePort = allInOne ? 0 : config.gateway.port;
    let authUrl = config.upstreams.auth ?? "";
    if (!options.roles.includes("auth") && !authUrl) throw new StartError("AUTH_URL is not set: services other than auth need it to fetch the signing keys.");
    // Rate limits and login thresholds follow `azora security policies update` without a restart (every role polls it).
    const securityPolicy = createPolicyWatcher({
      db: context.db,
      intervalMs: config.securityPolicy.pollMs,
      logger: logs.security,
      initial: await initialPolicy(context.db, logs.security),
    });
    securityPolicy.start();
    stopPolicyWatcher = securityPolicy.stop;
    // One hashing pool per process (its cores are the process's), sized before the first login can hash.
    sizeHashingPool(config.passwordHashing.threads);
    passwordGuard = createPasswordGuard({
      config,
      clock: context.clock,
      eventLog: logs.auth,
      logAccount: logAccountKeyer(context.masterSecret),
      policy: () => loginGuardPolicy(config, securityPolicy.current()),
    });
    // In one process the gateway proves itself to the services on loopback with a secret of this process. In
    // the in-process composition nothing sends it: the loopback listeners then believe no X-Forwarded-For.
    const gatewayProof = allInOne ? randomBytes(24).toString("base64url") : undefined;
    const serviceDeps = {
      context,
      metrics,
      jwksUrl: () => new URL("/.well-known/jwks.json", authUrl).href,
      passwordGuard,
      securityPolicy,
      ...(gatewayProof ? { gatewayProof } : {}),
    };

    const services: Partial<Record<"auth" | "users", ServiceRoutes>> = {};
    if (options.roles.includes("auth")) {
      services.auth = await createAuthRoutes(serviceDeps);
      const app = createServiceApp(services.auth, serviceDeps);
      authUrl = urls.auth = urlOf(serviceHost, await listen(app, serviceHost, servicePort));
      listening.push({ name: "auth", app });
    }
    if (options.roles.includes("users")) {
      services.users = createUsersRoutes(serviceDeps);
      const app = createServiceApp(services.users, serviceDeps);
      urls.users = urlOf(serviceHost, await listen(app, serviceHost, servicePort));
      listening.push({ name: "users", app });
    }
    let remoteUpstreams: { auth: string; users: string } | undefined;
    if (options.roles.includes("gateway")) {
      const upstreams = { auth: urls.auth ?? config.upstreams.auth, users: urls.users ?? config.upstreams.users };
      if (!upstreams.auth || !upstreams.users) throw new StartError("The gateway needs AUTH_URL and USERS_URL when it runs on its own.");
      const watcher = createMaintenanceWatcher({
        repository: createMaintenanceRepository(context.db),
        filePath: config.maintenance.file,
        intervalMs: config.maintenance.pollMs,
        logger: context.logs.api.child({ service: "gateway" }),
      });
      await watcher.start();
      stopMaintenanceWatcher = watcher.stop;
      // Release routes apply where the gateway proxies to service processes of their own: split mode.
      const traffic = allInOne || !config.traffic.follow
        ? undefined
        : createTrafficWatcher({ repository: createTrafficRepository(context.db), intervalMs: config.traffic.pollMs, logger: context.logs.api.child({ service: "gateway" }) });
      await traffic?.start();
      stopTrafficWatcher = traffic?.stop;
      const gateway = createGatewayApp({
        config,
        logger: context.logs.api,
        metrics,
        activeUsers,
        upstreams: { auth: upstreams.auth, users: upstreams.users },
        maintenance: watcher,
        ...(traffic ? { traffic } : {}),
        securityPolicy,
        incidents: createIncidentsRepository(context.db),
        opsToken: acceptedOpsToken,
        revocation: createRevocationCheck(context),
        clock: context.clock,
        ...(gatewayProof ? { gatewayProof } : {}),
        ...(inProcess && services.auth && services.users ? { inProcess: { auth: services.auth, users: services.users } } : {}),
      });
      closeGateway = gateway.close;
      breakers = gateway.breakers;
      trafficView = gateway.traffic;
      if (!allInOne) remoteUpstreams = { auth: upstreams.auth, users: upstreams.users };
      urls.gateway = urlOf(config.gateway.host, await listen(gateway.app, config.gateway.host, config.gateway.port));
      listening.unshift({ name: "gateway", app: gateway.app });
    }

    if (options.roles.includes("auth")) {
      const logger = context.logs.auth;
      const purge = tokenPurgeJob({
        refreshTokens: createRefreshTokensRepository(context.db),
        resetTokens: createPasswordResetTokensRepository(context.db),
        mailOutbox: createMailOutboxRepository(context.db),
        clock: context.clock,
        logger,
        purged: metrics.refreshTokensPurged,
        intervalMs: config.tokens.purgeIntervalMs,
      });
      const jobs = [purge];
      // The backup plan runs in the one process that owns the data (azora up); production runs it from CronJobs.
      if (allInOne && config.backup.schedule.enabled) {
        jobs.push(backupPlanJob({ tasks: guideBackupPlan(context), clock: context.clock, stateDir: config.paths.state, logger: context.logs.api }));
      }
      scheduler = startScheduler(jobs, (job, error) => logger.error({ event: LogEvent.SCHEDULED_JOB_FAILED, job: job.name, err: error }, "scheduled job failed"));
    }

    // The ops dashboard's last hour: this process's own metrics, read every METRICS_SAMPLE_MS.
    history = createMetricHistory({
      registry: metrics.registry,
      intervalMs: config.dashboard.sampleMs,
      diskFreeRatio: async () => {
        const disk = await statfs(config.dataDir);
        return disk.bavail / disk.blocks;
      },
    });
    const readings = history;
    const commands = new Map((options.commands ?? []).map((command) => [command.name, command]));
    const live = context;
    const ops = createOpsApp({
      service: allInOne ? "azora" : (options.roles[0] ?? "azora"),
      version: config.version,
      logger: context.logs.api.child({ service: "ops" }),
      metrics,
      checks: healthChecks(context, options.roles, urls, remoteUpstreams),
      isReady: () => ready,
      opsToken: acceptedOpsToken,
      limits: config.http.limits,
      figures: () => computeFigures(readings.snapshots(), Date.now()),
      runCommand: async (name: string, args: Record<string, unknown>, io: CommandIO) => {
        const command = commands.get(name);
        if (!command) {
          io.err(`unknown command "${name}"`);
          return 2;
        }
        return command.run(live, args, io);
      },
    });
    if (breakers) {
      const snapshot = breakers;
      ops.get("/debug/circuit-breakers", async () => ({ breakers: snapshot() }));
    }
    if (trafficView) {
      const view = trafficView;
      // Which route revision this gateway process follows, so an operator (or a deploy) can see every process has switched.
      ops.get("/debug/traffic", async () => ({ splitMode: !allInOne, upstreams: view() }));
    }
    const opsPort = await listen(ops, config.ops.host, config.ops.port);
    listening.push({ name: "ops", app: ops });
    urls.ops = urlOf(config.ops.host, opsPort);
    readings.start();
    await lock?.announce(config.ops.host === "0.0.0.0" ? loopback : config.ops.host, opsPort);
    ready = true;
    return { urls, opsToken, context, metrics, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/**
 * What this process's ops /health reports: its dependencies, its log files, its own listeners, and in split
 * mode the gateway's upstreams with their own dependencies (one probe of the gateway covers every service process).
 */
function healthChecks(context: PlatformContext, roles: Role[], urls: RunningPlatform["urls"], upstreams?: { auth: string; users: string }): HealthCheck[] {
  const checks = dependencyChecks(context, { databaseCritical: roles.includes("auth") || roles.includes("users") });
  checks.push({
    // Log lines that cannot be written are dropped and counted; requests are still served.
    name: "logs",
    critical: false,
    run: async () => {
      const failing = Object.entries(context.logs.failing());
      if (failing.length > 0) return { degraded: failing.map(([log, code]) => `${log}: ${code}`).join(", ") };
    },
  });
  for (const [name, url] of Object.entries(urls)) if (name !== "ops" && url) checks.push(listenerCheck(name, url));
  if (upstreams) checks.push(upstreamCheck("auth", upstreams.auth), upstreamCheck("users", upstreams.users));
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
