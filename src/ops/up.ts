import { join } from "node:path";
import type { CommandIO } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { LockHeldError } from "../platform/data-lock.ts";
import { MigrationChangedError } from "../platform/db/migrator.ts";
import { LogEvent } from "../platform/log-events.ts";
import { DatabaseUnavailableError } from "../platform/db/unavailable.ts";
import { describe } from "../platform/health.ts";
import { StartError, startPlatform, type Role, type RunningPlatform } from "../runtime.ts";
import { platformCommands } from "./commands.ts";
import { lockWaitMessage, staleLockMessage } from "./run-platform-command.ts";

export interface UpOptions {
  /** Print the ops token itself (only to an interactive terminal, never into a collected log). */
  showToken: boolean;
}

/** `azora up` and `azora serve X`: start, print where everything answers, reopen logs on SIGHUP, stop cleanly on SIGTERM or Ctrl-C. */
export async function serveUntilSignal(config: Config, roles: Role[], options: UpOptions, io: CommandIO): Promise<number> {
  if (roles.length === 1 && !config.database.url) {
    io.err("azora serve runs one service per process and needs a shared PostgreSQL: set DATABASE_URL. On one machine, use azora up.");
    return 1;
  }
  let running: RunningPlatform;
  let lockLost: (reason: "lock lost") => void = () => undefined;
  const lost = new Promise<"lock lost">((resolve) => (lockLost = resolve));
  // Signals are handled from the first moment, not once started (start-up can take minutes): SIGHUP must
  // never kill the process, and SIGTERM during start-up stops it cleanly as soon as it is up.
  // SIGHUP reopens the log files, as nginx does: `mv api.log api.log.1 && kill -HUP <pid>` rotates them.
  const reopenLogs = () => {
    if (!running) return;
    running.context.logs.reopen();
    running.context.logs.api.info({ event: LogEvent.LOGS_REOPENED }, "log files reopened");
  };
  process.on("SIGHUP", reopenLogs);
  // A signal that repeats during the drain is not a reason to cut it short: Ctrl-C under `npm start`
  // reaches node twice (from the terminal, and forwarded by npm). The drain is bounded by SHUTDOWN_TIMEOUT_MS.
  let stopping = false;
  const onStopSignal = (received: NodeJS.Signals) => {
    if (stopping) io.err(`Received ${received} again: already stopping.`);
    stopping = true;
    stopRequested(received);
  };
  let stopRequested: (signal: NodeJS.Signals) => void = () => undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve));
  process.on("SIGINT", onStopSignal);
  process.on("SIGTERM", onStopSignal);
  const stopListeners = () => {
    process.off("SIGINT", onStopSignal);
    process.off("SIGTERM", onStopSignal);
    process.off("SIGHUP", reopenLogs);
  };
  try {
    running = await startPlatform(config, {
      roles,
      commands: platformCommands,
      onStaleLock: (stale) => io.err(staleLockMessage(stale)),
      onLockWait: (holder, waitMs) => io.err(lockWaitMessage(holder, waitMs)),
      onLockLost: () => lockLost("lock lost"),
      onWarning: (message) => io.err(message),
    });
  } catch (error) {
    stopListeners();
    io.err(startFailure(config, error));
    return 1;
  }
  io.out(banner(config, running, options));
  const signal = await Promise.race([lost, stopSignal]);
  if (signal === "lock lost") {
    // Another process owns the data now: serving on would let two writers corrupt it.
    io.err(`Another process took the lock of ${config.dataDir} (this one stalled for more than its heartbeat allows): stopping.`);
    await running.stop();
    stopListeners();
    return 1;
  }
  io.err(`Received ${signal}: finishing in-flight requests (up to ${config.http.shutdownTimeoutMs / 1000} s), then stopping.`);
  await running.stop();
  stopListeners();
  io.err("Stopped.");
  return 0;
}

function banner(config: Config, running: RunningPlatform, options: UpOptions): string {
  const { urls } = running;
  const token = options.showToken ? running.opsToken : `(in ${join(config.paths.secrets, "ops-token")}, or AZORA_OPS_TOKEN)`;
  const lines = [`Azora OS ${config.version} is up.`];
  if (urls.gateway) lines.push(`  API:        ${urls.gateway}   (try: curl ${urls.gateway}/health)`);
  if (!urls.gateway && urls.auth) lines.push(`  Auth:       ${urls.auth}`);
  if (!urls.gateway && urls.users) lines.push(`  Users:      ${urls.users}`);
  lines.push(`  Ops:        ${urls.ops}   (/health, /metrics; internal only)`);
  lines.push(`  Ops token:  ${token}`);
  lines.push(`  Database:   ${config.database.url ? "PostgreSQL (DATABASE_URL)" : `embedded, ${config.paths.pg}`}`);
  lines.push(`  Cache:      ${config.redis.url ? "Redis (REDIS_URL)" : "in-process"}`);
  lines.push("Press Ctrl-C to stop.");
  return lines.join("\n");
}

function startFailure(config: Config, error: unknown): string {
  if (error instanceof LockHeldError) {
    const where = error.holder.opsPort ? `, ops port ${error.holder.opsPort}` : "";
    return `Azora OS is already running on ${config.dataDir} (pid ${error.holder.pid}${where}). Stop it first, or point DATA_DIR at another directory.`;
  }
  if (error instanceof StartError || error instanceof MigrationChangedError) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") {
    const port = (error as { port?: number }).port;
    return `Port ${port ?? "?"} is already in use. Set PORT or OPS_PORT to a free port.`;
  }
  if (code === "42P01") return "The database has no schema yet: run `azora migrate` (in Kubernetes, the migrate Job) first.";
  if (error instanceof DatabaseUnavailableError) {
    return `Cannot reach the database (DATABASE_URL): ${describe(error)}. Is PostgreSQL running and reachable from here?`;
  }
  if (code === "ECONNREFUSED") return `Cannot reach a configured service (${(error as Error).message}). Is PostgreSQL/Redis running?`;
  return `Azora OS could not start: ${error instanceof Error ? error.message : String(error)}`;
}
