import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import lockfile from "proper-lockfile";
import type { PlatformContext } from "../../platform/context.ts";
import { currentProcessIdentity, isRunning, type ProcessIdentity } from "../../platform/process-identity.ts";

/** What holds the content lock, written beside it so that a command refused by it can say what it waits for. */
interface ContentLockHolder extends ProcessIdentity {
  purpose: string;
  since: string;
}

type Context = Pick<PlatformContext, "config">;

/** Manifests, pending erasures and the lock of content backups live in DATA_DIR/backups/content. */
export const contentRoot = (context: Context) => join(context.config.paths.backups, "content");
const holderPath = (context: Context) => join(contentRoot(context), ".lock-holder.json");

/**
 * Takes the content lock: the content pool is shared by every content backup; a backup and a prune must not
 * overlap (a prune would take a file just copied, before the manifest naming it is written, for unreferenced),
 * nor may a restore read the pool while a prune empties it. A lock file in the manifest directory keeps them
 * apart across processes. Busy after `retries` tries (about a second apart), it throws proper-lockfile's
 * ELOCKED error. Returns the release.
 */
export async function acquireContentLock(context: Context, purpose: string, options: { retries: number } = { retries: 60 }): Promise<() => Promise<void>> {
  const root = contentRoot(context);
  await mkdir(root, { recursive: true, mode: 0o700 });
  const release = await lockfile.lock(root, { lockfilePath: join(root, ".lock"), realpath: false, stale: 60_000, update: 10_000, onCompromised: () => undefined, retries: { retries: options.retries, minTimeout: 1_000, maxTimeout: 5_000 } });
  const holder: ContentLockHolder = { ...currentProcessIdentity(), purpose, since: new Date().toISOString() };
  await writeFile(holderPath(context), JSON.stringify(holder), { mode: 0o600 }).catch(() => undefined);
  return async () => {
    await rm(holderPath(context), { force: true });
    await release().catch(() => undefined);
  };
}

/** Runs work holding the content lock (see acquireContentLock). */
export async function withContentLock<T>(context: Context, work: () => Promise<T>, options: { retries: number; purpose?: string } = { retries: 60 }): Promise<T> {
  const release = await acquireContentLock(context, options.purpose ?? "a content backup command", options);
  try {
    return await work();
  } finally {
    await release();
  }
}

/** Whether an error is the content lock being held elsewhere. */
export const isContentLockBusy = (error: unknown) => (error as NodeJS.ErrnoException).code === "ELOCKED";

/**
 * Whether the content lock's holder, as it wrote itself down, is a process that no longer runs (killed): its
 * lock then goes stale within a minute (proper-lockfile's own test, which a live holder in another container
 * keeps fresh). False when the holder is unknown or runs.
 */
export async function contentLockHolderIsGone(context: Context): Promise<boolean> {
  const holder = await readHolder(context);
  return holder !== undefined && !isRunning(holder);
}

async function readHolder(context: Context): Promise<ContentLockHolder | undefined> {
  const text = await readFile(holderPath(context), "utf8").catch(() => undefined);
  try {
    return text ? (JSON.parse(text) as ContentLockHolder) : undefined;
  } catch {
    return undefined;
  }
}

/** Says what holds the content lock, for a message: "a content backup (process 123, since …)". */
export async function describeContentLockHolder(context: Context): Promise<string> {
  const holder = await readHolder(context);
  const lock = join(contentRoot(context), ".lock");
  if (!holder || !isRunning(holder)) return `another process (lock ${lock})`;
  return `${holder.purpose} (process ${holder.pid}, since ${holder.since}; lock ${lock})`;
}
