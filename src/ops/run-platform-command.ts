import { request } from "undici";
import type { CommandFrame, CommandIO, PlatformCommand } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { closePlatform, openPlatform } from "../platform/context.ts";
import { acquireDataLock, liveHolder, type LockHolder } from "../platform/data-lock.ts";
import { loadOrCreateSecret } from "../platform/secrets.ts";

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
    if (holder) return runRemotely(config, holder, command.name, args, io);
  }
  const embedded = !config.database.url;
  const lock = embedded ? await acquireDataLock(config.paths.state, (stale) => io.err(staleLockMessage(stale))) : undefined;
  try {
    const context = await openPlatform(config, { migrate: embedded });
    try {
      return await command.run(context, args, io);
    } finally {
      await closePlatform(context);
    }
  } finally {
    await lock?.release();
  }
}

export function staleLockMessage(stale: LockHolder): string {
  return `Recovered a stale lock left by process ${stale.pid} (no longer running).`;
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

async function runRemotely(config: Config, holder: LockHolder, name: string, args: Record<string, unknown>, io: CommandIO): Promise<number> {
  const token = await loadOrCreateSecret(config.paths.secrets, "ops-token", config.ops.token);
  const response = await request(`http://${holder.opsHost}:${holder.opsPort}/ops/commands`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name, args }),
  });
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
