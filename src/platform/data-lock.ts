import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import lockfile from "proper-lockfile";
import { pidExists } from "./process-identity.ts";

/** Who owns an embedded data directory, and where its ops port answers. */
export interface LockHolder {
  pid: number;
  hostname: string;
  /** Tells two holders apart when a restarted container gives the new one the old one's PID. */
  instanceId: string;
  opsHost: string | null;
  opsPort: number | null;
  startedAt: string;
}

export class LockHeldError extends Error {
  constructor(readonly holder: LockHolder) {
    super(`another Azora OS process (pid ${holder.pid}) already owns this data directory`);
  }
}

/**
 * The holder refreshes the lock's mtime every HEARTBEAT_MS (proper-lockfile does it on a timer); a lock
 * not refreshed for STALE_MS belongs to a process that is gone. A PID can be reused (a container's PID 1
 * after a restart) but a heartbeat cannot be faked by a process that is not the holder.
 */
export const STALE_MS = 20_000;
const HEARTBEAT_MS = 2_000;
const POLL_MS = 250;

const lockDir = (stateDir: string) => join(stateDir, "data.lock");
const holderFile = (stateDir: string) => join(stateDir, "data.lock.holder.json");
const lockOptions = (stateDir: string) => ({ lockfilePath: lockDir(stateDir), realpath: false, stale: STALE_MS });

/** A holder on this machine whose PID no process has is certainly gone (the opposite is not certain). */
const certainlyDead = (holder: LockHolder | undefined) => holder !== undefined && holder.hostname === hostname() && !pidExists(holder.pid);

async function readHolder(stateDir: string): Promise<LockHolder | undefined> {
  try {
    const holder = JSON.parse(await readFile(holderFile(stateDir), "utf8")) as LockHolder;
    return typeof holder.pid === "number" ? holder : undefined;
  } catch {
    // Missing (the holder is between taking the lock and describing itself) or unreadable: unknown.
    return undefined;
  }
}

const unknownHolder: LockHolder = { pid: 0, hostname: "", instanceId: "", opsHost: null, opsPort: null, startedAt: "unknown" };

/** The live process that holds the lock, if any: its heartbeat is fresh and it is not known to be dead. */
export async function liveHolder(stateDir: string): Promise<LockHolder | undefined> {
  const locked = await lockfile.check(stateDir, lockOptions(stateDir)).catch(() => false);
  if (!locked) return undefined;
  const holder = await readHolder(stateDir);
  if (certainlyDead(holder)) return undefined;
  return holder ?? unknownHolder;
}

export interface DataLock {
  readonly holder: LockHolder;
  /** Records where this process's ops port answers, for commands run from other processes. */
  announce(opsHost: string, opsPort: number): Promise<void>;
  release(): Promise<void>;
}

export interface LockEvents {
  /** A lock left by a process that is gone was taken over. */
  onStale(holder: LockHolder): void;
  /** The lock is held by a process that may be gone (its PID exists, maybe reused): we wait for its heartbeat. */
  onWait?(holder: LockHolder, waitMs: number): void;
  /** The lock was taken from us (our heartbeat stopped for longer than STALE_MS, or the lock was removed). */
  onCompromised?(error: Error): void;
}

/**
 * Takes the exclusive lock of a data directory. PGlite has no cross-process locking, so two owners
 * would lose writes silently. A held lock whose heartbeat goes on is refused at once (LockHeldError);
 * one whose heartbeat has stopped is recovered, at the latest STALE_MS after the holder died.
 */
export async function acquireDataLock(stateDir: string, events: LockEvents): Promise<DataLock> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  let seen: { holder: LockHolder | undefined; heartbeat: number } | undefined;
  for (;;) {
    // A description left behind means its holder never released: taking the lock now recovers it.
    const leftBehind = seen?.holder ?? (await readHolder(stateDir));
    try {
      const release = await lockfile.lock(stateDir, {
        ...lockOptions(stateDir),
        update: HEARTBEAT_MS,
        onCompromised: (error) => events.onCompromised?.(error),
      });
      if (seen || leftBehind) events.onStale(leftBehind ?? unknownHolder);
      return await describeHolder(stateDir, release);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
    }
    const holder = await readHolder(stateDir);
    if (certainlyDead(holder)) {
      // Reported as stale when the lock is taken on the next turn (its description is still there).
      await rm(lockDir(stateDir), { recursive: true, force: true });
      continue;
    }
    const heartbeat = await stat(lockDir(stateDir)).then((info) => info.mtimeMs, () => 0);
    if (heartbeat === 0) continue; // released just now: try again
    if (!seen) {
      seen = { holder, heartbeat };
      events.onWait?.(holder ?? unknownHolder, STALE_MS);
    } else if (heartbeat !== seen.heartbeat) {
      throw new LockHeldError(holder ?? unknownHolder);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function describeHolder(stateDir: string, release: () => Promise<void>): Promise<DataLock> {
  const mine: LockHolder = { pid: process.pid, hostname: hostname(), instanceId: randomUUID(), opsHost: null, opsPort: null, startedAt: new Date().toISOString() };
  const write = async (holder: LockHolder) => {
    // Write-then-rename so a reader never sees half a file.
    const next = `${holderFile(stateDir)}.${process.pid}.tmp`;
    await writeFile(next, JSON.stringify(holder), { mode: 0o600 });
    await rename(next, holderFile(stateDir));
  };
  await write(mine);
  let current = mine;
  return {
    get holder() {
      return current;
    },
    async announce(opsHost, opsPort) {
      current = { ...mine, opsHost, opsPort };
      await write(current);
    },
    async release() {
      if ((await readHolder(stateDir))?.instanceId === mine.instanceId) await unlink(holderFile(stateDir)).catch(() => undefined);
      await release().catch(() => undefined);
    },
  };
}
