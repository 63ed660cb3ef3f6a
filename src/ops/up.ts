import { join } from "node:path";
import type { CommandIO } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { LockHeldError } from "../platform/data-lock.ts";
import { StartError, startPlatform, type Role, type RunningPlatform } from "../runtime.ts";
import { platformCommands } from "./commands.ts";
import { staleLockMessage } from "./run-platform-command.ts";

export interface UpOptions {
  /** Print the ops token itself (only to an interactive terminal, never into a collected log). */
  showToken: boolean;
}

/** `azora up` and `azora serve X`: start, print where everything answers, stop cleanly on SIGTERM or Ctrl-C. */
export async function serveUntilSignal(config: Config, roles: Role[], options: UpOptions, io: CommandIO): Promise<number> {
  if (roles.length === 1 && !config.database.url) {
    io.err("azora serve runs one service per process and needs a shared PostgreSQL: set DATABASE_URL. On one machine, use azora up.");
    return 1;
  }
  let running: RunningPlatform;
  try {
    running = await startPlatform(config, { roles, commands: platformCommands, onStaleLock: (stale) => io.err(staleLockMessage(stale)) });
  } catch (error) {
    io.err(startFailure(config, error));
    return 1;
  }
  io.out(banner(config, running, options));
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  io.err(`Received ${signal}: finishing in-flight requests (up to ${config.http.shutdownTimeoutMs / 1000} s), then stopping.`);
  await running.stop();
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
  if (error instanceof StartError) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") {
    const port = (error as { port?: number }).port;
    return `Port ${port ?? "?"} is already in use. Set PORT or OPS_PORT to a free port.`;
  }
  if (code === "42P01") return "The database has no schema yet: run `azora migrate` (in Kubernetes, the migrate Job) first.";
  if (code === "ECONNREFUSED") return `Cannot reach a configured service (${(error as Error).message}). Is PostgreSQL/Redis running?`;
  return `Azora OS could not start: ${error instanceof Error ? error.message : String(error)}`;
}
