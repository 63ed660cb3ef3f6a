import { access } from "node:fs/promises";
import { hostname } from "node:os";
import { liveHolder } from "../../platform/data-lock.ts";

/** Which process writes the log files, and how it was found. */
export type LogWriter = { pid: number; source: "lock" | "option" } | { pid: undefined; reason: string };

/**
 * The process to signal after a rotation: the one given with --pid, or the holder of the data
 * directory's lock (`azora up`). A holder on another machine cannot be signalled from here.
 */
export async function findLogWriter(stateDir: string, pid: number | undefined): Promise<LogWriter> {
  if (pid !== undefined) return { pid, source: "option" };
  const holder = await liveHolder(stateDir);
  if (!holder) return { pid: undefined, reason: "no Azora OS holds the data directory" };
  if (holder.pid <= 0 || holder.hostname !== hostname()) {
    return { pid: undefined, reason: `the data directory is held by a process on ${holder.hostname || "an unknown host"}; run the rotation there` };
  }
  return { pid: holder.pid, source: "lock" };
}

const exists = (path: string) => access(path).then(() => true, () => false);

/**
 * Sends SIGHUP and waits until the writer has opened every path again (log-file.ts creates it on
 * reopen, after flushing what it buffered into the old file). Only then is a moved file closed for
 * good and safe to compress. False when the paths did not reappear in time.
 */
export async function signalReopen(pid: number, paths: string[], timeoutMs = 10_000): Promise<boolean> {
  process.kill(pid, "SIGHUP");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const present = await Promise.all(paths.map(exists));
    if (present.every(Boolean)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
