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
  return { pid: process.pid, bootId: bootId(), startTicks: startTicksOf(process.pid) };
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
