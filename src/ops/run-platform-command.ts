import { reportProgress, type CommandFrame, type CommandIO, type PlatformCommand } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { acquireDataLock, liveHolder, type LockHolder } from "../platform/data-lock.ts";
import { embeddedDataExists, missingDataMessage } from "../platform/data-dir.ts";
import { loadOrCreateSecret } from "../platform/secrets.ts";
import { cliActor } from "../platform/audit/audit.service.ts";
import type { PlatformContext } from "../platform/context.ts";
import { signalExitCode, withSignals } from "./deploy/deploy-common.ts";

/**
 * Runs a command that needs the database. On PostgreSQL it runs here. On the embedded database it runs
 * in the process that owns the data directory (through its ops port) when one is up, otherwise here under the lock.
 */
export async function runPlatformCommand<Args extends Record<string, unknown>>(
  config: Config,
  command: PlatformCommand<Args>,
  args: Args,
  io: CommandIO,
): Promise<number> {
  if (!config.database.url) {
    const holder = await waitForAnnouncedHolder(config.paths.state);
    if (holder) {
      const exitCode = await runRemotely(config, holder, command.name, args, io);
      if (exitCode !== "unreachable") return exitCode;
      // Killed without a chance to release its lock: its heartbeat stops, and the lock is taken over below.
      io.err(`The Azora OS that holds ${config.dataDir} (pid ${holder.pid}) does not answer on its ops port ${holder.opsPort}; running the command here once its lock is free.`);
    }
  }
  const embedded = !config.database.url;
  if (embedded && !command.migrates && !(await embeddedDataExists(config))) {
    if (!command.createsInstallation) {
      io.err(missingDataMessage(config));
      return 1;
    }
    io.err(`No Azora OS data in ${config.dataDir} yet: a new embedded installation is created there for this ${command.name}.`);
  }
  const lock = embedded
    ? await acquireDataLock(config.paths.state, {
        onStale: (stale) => io.err(staleLockMessage(stale)),
        onWait: (holder, waitMs) => io.err(lockWaitMessage(holder, waitMs)),
      })
    : undefined;
  try {
    // Imported here, not at load: a command relayed to a running `azora up` never opens the database in this process.
    const { closePlatform, openPlatform } = await import("../platform/context.ts");
    // A command's stdout is its output (one JSON document with --json): its logs go to the files only. A command
    // that never touches the cache is not made to connect to Redis first (the in-process store stands in, unused).
    const quiet = { ...config, log: { ...config.log, stdout: false }, ...(command.cacheless ? { redis: { ...config.redis, url: undefined } } : {}) };
    const context = await openPlatform(quiet, { migrate: embedded && !command.migrates, warn: (message) => io.err(message) });
    try {
      if (!command.stopsOnSignal) return await command.run(context, args, io);
      return await runStoppable(command, context, args, io);
    } finally {
      await closePlatform(context);
    }
  } finally {
    await lock?.release();
  }
}

/**
 * Runs a command that heeds io.signal with SIGINT and SIGTERM aborting it: the command stops what it runs
 * (a restore's pg_restore) and cleans up, where Node's default would end this process and leave its children
 * running. A later signal only says that the stop is under way.
 */
async function runStoppable<Args>(command: PlatformCommand<Args>, context: PlatformContext, args: Args, io: CommandIO): Promise<number> {
  const stop = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const signal = io.signal ? AbortSignal.any([io.signal, stop.signal]) : stop.signal;
  const exitCode = await withSignals(
    (received) => {
      stoppedBy = received;
      io.err(`${received} received: stopping the ${command.name} (its tools are stopped and its changes undone).`);
      stop.abort();
    },
    (received) => io.err(`${received} received again: the ${command.name} is already stopping.`),
    () => command.run(context, args, { ...io, signal }),
  );
  return stoppedBy && exitCode !== 0 ? signalExitCode(stoppedBy) : exitCode;
}

export function staleLockMessage(stale: LockHolder): string {
  return `Recovered a stale lock left by process ${stale.pid} (no longer running).`;
}

export function lockWaitMessage(holder: LockHolder, waitMs: number): string {
  const who = holder.pid > 0 ? `process ${holder.pid}` : "another process";
  return `The data directory is locked by ${who}; checking its heartbeat (up to ${waitMs / 1000} s) to see whether it still runs.`;
}

/** A holder that is still starting has no ops port yet: give it a moment. */
async function waitForAnnouncedHolder(stateDir: string): Promise<LockHolder | undefined> {
  for (let waited = 0; waited < 30_000; waited += 250) {
    const holder = await liveHolder(stateDir);
    if (!holder || holder.opsPort) return holder;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error("azora up holds the data directory but has not opened its ops port after 30 s; check its output.");
}

/** Runs the command in the holder; "unreachable" when nothing answers on its ops port (the holder is gone). */
async function runRemotely(config: Config, holder: LockHolder, name: string, args: Record<string, unknown>, io: CommandIO): Promise<number | "unreachable"> {
  const token = await loadOrCreateSecret(config.paths.secrets, "ops-token", config.ops.token);
  // Loaded only for a relayed command: a command on PostgreSQL never needs it, and it is a large module.
  const { request } = await import("undici");
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(`http://${holder.opsHost}:${holder.opsPort}/ops/commands`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name, args, actor: cliActor() }),
    });
  } catch (error) {
    // Nothing was sent to a process that could have run it: safe to run it elsewhere.
    if ((error as NodeJS.ErrnoException).code === "ECONNREFUSED") return "unreachable";
    throw error;
  }
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    io.err(`The running Azora OS (pid ${holder.pid}) refused the command (${response.statusCode}): ${text}`);
    return 1;
  }
  let exitCode = 1;
  let buffered = "";
  const handle = (line: string) => {
    if (!line) return;
    const frame = JSON.parse(line) as CommandFrame;
    if ("exitCode" in frame) exitCode = frame.exitCode;
    else if ("progress" in frame) reportProgress(io, frame.progress);
    else if (frame.stream === "out") io.out(frame.text);
    else io.err(frame.text);
  };
  for await (const chunk of response.body) {
    buffered += chunk.toString();
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    lines.forEach(handle);
  }
  handle(buffered);
  return exitCode;
}
