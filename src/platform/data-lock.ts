import { mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Who owns an embedded data directory, and where its ops port answers. */
export interface LockHolder {
  pid: number;
  opsHost: string | null;
  opsPort: number | null;
  startedAt: string;
}

export class LockHeldError extends Error {
  constructor(readonly holder: LockHolder) {
    super(`another Azora OS process (pid ${holder.pid}) already owns this data directory`);
  }
}

const lockFile = (stateDir: string) => join(stateDir, "azora.lock");

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readHolder(stateDir: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(lockFile(stateDir), "utf8")) as LockHolder;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    // A lock cut short by a crash mid-write says nothing: treat it as stale.
    return { pid: -1, opsHost: null, opsPort: null, startedAt: "unknown" };
  }
}

/** The live process that holds the lock, if any. */
export async function liveHolder(stateDir: string): Promise<LockHolder | undefined> {
  const holder = await readHolder(stateDir);
  return holder && holder.pid > 0 && isAlive(holder.pid) ? holder : undefined;
}

export interface DataLock {
  /** Records where this process's ops port answers, for commands run from other processes. */
  announce(opsHost: string, opsPort: number): Promise<void>;
  release(): Promise<void>;
}

/**
 * Takes the exclusive lock of a data directory. PGlite has no cross-process locking, so two owners
 * would lose writes silently; a lock left by a dead process is recovered (onStale tells the user).
 */
export async function acquireDataLock(stateDir: string, onStale: (holder: LockHolder) => void): Promise<DataLock> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = lockFile(stateDir);
  const mine: LockHolder = { pid: process.pid, opsHost: null, opsPort: null, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, JSON.stringify(mine), { flag: "wx", mode: 0o600 });
      return lockHandle(stateDir, mine);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = await readHolder(stateDir);
    if (holder && holder.pid > 0 && isAlive(holder.pid)) throw new LockHeldError(holder);
    if (holder) onStale(holder);
    await unlink(path).catch(() => undefined);
  }
  throw new Error(`could not take the lock ${path}: another process keeps recreating it`);
}

function lockHandle(stateDir: string, mine: LockHolder): DataLock {
  const path = lockFile(stateDir);
  return {
    async announce(opsHost, opsPort) {
      // Write-then-rename so a reader never sees half a file.
      const next = join(stateDir, `azora.lock.${process.pid}.tmp`);
      await writeFile(next, JSON.stringify({ ...mine, opsHost, opsPort }), { mode: 0o600 });
      await rename(next, path);
    },
    async release() {
      const holder = await readHolder(stateDir);
      if (holder?.pid === process.pid) await unlink(path).catch(() => undefined);
    },
  };
}
