import { readFileSync } from "node:fs";

/**
 * A process as it can be recognised later: its PID alone is not enough, since PIDs are reused (after a
 * reboot above all, where a container's PID 1 or a low PID comes back at once). On Linux the boot id and
 * the process's start time (clock ticks since boot, /proc/PID/stat field 22) pin it down.
 */
export interface ProcessIdentity {
  pid: number;
  bootId?: string;
  startTicks?: string;
}

export function currentProcessIdentity(): ProcessIdentity {
  return processIdentityOf(process.pid);
}

/** The identity of a process that runs now (undefined parts where /proc does not say). */
export function processIdentityOf(pid: number): ProcessIdentity {
  return { pid, bootId: bootId(), startTicks: startTicksOf(pid) };
}

/**
 * A short tag for the names of working files and directories (`p<pid>t<start ticks>`): which process made
 * them, so that a later one can tell the leftovers of a process that died from the files of one at work.
 */
export function ownerTag(identity: ProcessIdentity = currentProcessIdentity()): string {
  return `p${identity.pid}t${identity.startTicks ?? "x"}`;
}

/** The process a name's owner tag names (the first `p<pid>t<ticks>` after the start or a "-"/"."), if it has one. */
export function ownerOfName(name: string): ProcessIdentity | undefined {
  const match = /(?:^|[-.])p(\d+)t(\d+|x)(?=[-.])/.exec(name);
  if (!match) return undefined;
  return { pid: Number(match[1]), startTicks: match[2] === "x" ? undefined : match[2] };
}

/** Whether the process the identity names still runs: the same PID, started at the same moment of the same boot. */
export function isRunning(identity: ProcessIdentity): boolean {
  try {
    process.kill(identity.pid, 0);
  } catch (error) {
    // EPERM: it exists under another user; only "no such process" means gone.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  if (identity.bootId !== undefined && identity.bootId !== bootId()) return false;
  if (identity.startTicks !== undefined && identity.startTicks !== startTicksOf(identity.pid)) return false;
  return true;
}

function bootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return undefined;
  }
}

function startTicksOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
