import { createHash } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";

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
 * A short tag for the names of working files and directories (`p<pid>t<start ticks>s<pid space>`): which
 * process made them, so that a later one can tell the leftovers of a process that died from the files of one
 * at work. The pid space says where that PID means something (this boot of this kernel, this PID namespace):
 * a PID of another machine or container sharing the directory (the backups volume of several pods) cannot be
 * judged from here.
 */
export function ownerTag(identity: ProcessIdentity = currentProcessIdentity(), space: string | undefined = pidSpace()): string {
  return `p${identity.pid}t${identity.startTicks ?? "x"}s${space ?? "x"}`;
}

/** The process a name's owner tag names (the first `p<pid>t<ticks>s<space>` after the start or a "-"/"."), if it has one. */
export function ownerOfName(name: string): (ProcessIdentity & { space: string | undefined }) | undefined {
  const match = /(?:^|[-.])p(\d+)t(\d+|x)s([0-9a-f]{8}|x)(?=[-.])/.exec(name);
  if (!match) return undefined;
  return { pid: Number(match[1]), startTicks: match[2] === "x" ? undefined : match[2], space: match[3] === "x" ? undefined : match[3] };
}

/**
 * Whether a name's owner tag names a process that is gone: only a process of this pid space can be known gone.
 * A name without a tag, or from another machine, container or boot, is never taken for a dead one's.
 */
export function ownerIsGone(name: string): boolean {
  const owner = ownerOfName(name);
  if (!owner || owner.space === undefined || owner.space !== pidSpace()) return false;
  return !isRunning(owner);
}

/** This boot of this kernel and this PID namespace, as 8 hex digits (undefined where /proc does not say). */
export function pidSpace(): string | undefined {
  // Fixed for the life of a process: read once (every staged upload names it).
  if (ownSpace === null) ownSpace = readPidSpace();
  return ownSpace;
}
let ownSpace: string | undefined | null = null;

function readPidSpace(): string | undefined {
  const boot = bootId();
  try {
    if (boot) return createHash("sha256").update(`${boot} ${readlinkSync("/proc/self/ns/pid")}`).digest("hex").slice(0, 8);
  } catch {
    // No /proc: no pid space, and no name is judged gone.
  }
  return undefined;
}

/** Whether some process has this PID (signal 0 sends nothing). EPERM: it exists under another user; only "no such process" means gone. */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the process the identity names still runs: the same PID, started at the same moment of the same boot. */
export function isRunning(identity: ProcessIdentity): boolean {
  if (!pidExists(identity.pid)) return false;
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
