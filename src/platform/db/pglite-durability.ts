import { closeSync, fstatSync, fsyncSync, openSync, readdirSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { NodeFS } from "@electric-sql/pglite/nodefs";

/**
 * When the embedded database's acknowledged writes reach the disk (DB_SYNC):
 * - always: every commit's WAL is fsynced before the commit is answered (PostgreSQL's fsync=on); the fsync runs
 *   off the event loop (walDurable(), awaited by pglite.ts after each statement), see below.
 * - interval: commits reach the OS at once, and a timer fsyncs the WAL every second (Redis' everysec).
 * - off: nothing is ever fsynced (PGlite's own default); an OS crash can lose or corrupt anything.
 */
export type DbSync = "always" | "interval" | "off";

export const DB_SYNC_MODES: readonly DbSync[] = ["always", "interval", "off"];

/** How far the WAL may lag behind acknowledged commits in mode "interval". */
export const INTERVAL_SYNC_MS = 1_000;

/**
 * PGlite's start-up arguments for a mode. PGlite starts postgres with -F (fsync off); the durable modes
 * drop it. wal_sync_method=fsync because fsync() is the one call the WASM runtime routes to the file
 * system (its fdatasync() is an unconditional no-op), and SyncingNodeFS turns that into a real fsync.
 */
export function startParamsFor(mode: DbSync): string[] {
  if (mode === "off") return PGlite.defaultStartParams;
  return [...PGlite.defaultStartParams.filter((param) => param !== "-F"), "-c", "wal_sync_method=fsync"];
}

interface EmscriptenStream {
  nfd: number;
  node: unknown;
  /** Cached: whether the stream writes a WAL file. */
  azoraWal?: boolean;
}
interface EmscriptenModule {
  NODEFS: { stream_ops: Record<string, unknown>; node_ops: Record<string, unknown>; realPath(node: unknown): string };
}
type FileOp = (...args: unknown[]) => unknown;

/**
 * PGlite's Node file system, whose fsync reaches the disk. The stock one maps files straight to the host
 * but has no fsync operation, so every fsync postgres asks for silently succeeds without syncing.
 *
 * PGlite runs postgres synchronously on the event loop, so an fsync done where postgres asks for it stops
 * every request of the process for the time of a disk flush (milliseconds each; the largest share of the
 * event loop's time under a login burst, ADR 0420). WAL fsyncs are therefore deferred: postgres is told the
 * WAL is synced, the file is noted, and walDurable() syncs it on libuv's thread pool. pglite.ts awaits
 * walDurable() after every statement before handing over its result, so nothing is answered, in any mode of
 * "always", before the WAL it depends on is on disk: the commit itself, and any read that saw it (a read
 * waits for the syncs asked before it ended). Commits that end while a sync runs share the next one (group
 * commit). Any other file is written, emptied, removed or synced only after the pending WAL is on disk (WAL before data),
 * except an empty page appended to extend a relation, which PostgreSQL itself writes without flushing the WAL first.
 */
export class SyncingNodeFS extends NodeFS {
  /** WAL files written since they were last handed to a sync. */
  private readonly pendingWal = new Set<string>();
  /** WAL files the running asynchronous sync is flushing. */
  private readonly syncingWal = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** WAL syncs postgres has asked for, and how many of them are known to be on disk (mode "always"). */
  private walAsked = 0;
  private walSynced = 0;
  private flushing: Promise<void> | undefined;
  /** A failed WAL sync: the WAL may have lost writes postgres counts as synced, so no statement is answered any more. */
  private failure: Error | undefined;
  /** WAL syncs done on the event loop because another file was written or synced while WAL was pending. */
  blockingWalSyncs = 0;

  constructor(
    dataDir: string,
    private readonly mode: DbSync,
  ) {
    super(dataDir);
  }

  override async init(pg: PGlite, opts: Parameters<NodeFS["init"]>[1]) {
    const result = await super.init(pg, opts);
    if (this.mode === "off") return result;
    const preRun = [...((result.emscriptenOpts.preRun as ((mod: EmscriptenModule) => void)[] | undefined) ?? [])];
    preRun.push((mod) => {
      const ops = mod.NODEFS.stream_ops;
      const walStream = (stream: EmscriptenStream) => (stream.azoraWal ??= isWal(mod.NODEFS.realPath(stream.node)));
      ops.fsync = (stream: EmscriptenStream) => {
        this.fsync(stream.nfd, walStream(stream), () => mod.NODEFS.realPath(stream.node));
        return 0;
      };
      // WAL before data, as PostgreSQL itself requires: before any other file (a data page evicted or
      // checkpointed, the commit log, pg_control) is even handed to the OS, the WAL it depends on is on
      // disk. Otherwise the OS could write that page back before its WAL, and a crash would leave
      // changes with no WAL to explain them (a torn index split, say): loss could become corruption.
      // The one exception is PostgreSQL's own: extending a relation with an empty (all-zero) page needs no WAL
      // first (a crash leaves an empty page past the end of the data, which postgres reads as new). Under a
      // burst of inserts every few dozen rows extend a table or an index, and each would otherwise sync the
      // WAL on the event loop (ADR 0550).
      const write = ops.write as (stream: EmscriptenStream, buffer: Uint8Array, offset: number, length: number, position: number) => number;
      ops.write = (stream: EmscriptenStream, buffer: Uint8Array, offset: number, length: number, position: number) => {
        if (this.walUnsynced() && !walStream(stream) && !extendsWithZeros(stream.nfd, buffer, offset, length, position)) this.syncWalBeforeData();
        return write(stream, buffer, offset, length, position);
      };
      // Emptying or removing a file changes data too: the commit that drops or rewrites a relation (DROP,
      // TRUNCATE, REINDEX, VACUUM FULL) empties the old file right after its commit record, whose fsync may
      // still be pending here. Were the file emptied first, a crash would roll the commit back onto an empty file.
      const changesData = (attr: unknown) => (attr as { size?: number }).size !== undefined;
      const nodeOps = mod.NODEFS.node_ops;
      const beforeDataChange = (target: Record<string, unknown>, name: string, isData: (...args: unknown[]) => boolean) => {
        const original = target[name] as FileOp;
        target[name] = (...args: unknown[]) => {
          if (this.walUnsynced() && isData(...args)) this.syncWalBeforeData();
          return original(...args);
        };
      };
      beforeDataChange(ops, "setattr", (stream, attr) => changesData(attr) && !walStream(stream as EmscriptenStream));
      beforeDataChange(nodeOps, "setattr", (node, attr) => changesData(attr) && !isWal(mod.NODEFS.realPath(node)));
      beforeDataChange(nodeOps, "unlink", (parent, name) => !isWal(join(mod.NODEFS.realPath(parent), String(name))));
    });
    if (this.mode === "interval") {
      // Unref'd: a pending sync never keeps the process alive; close() syncs what is left.
      // A failed sync (EIO, say) must not crash the process from a timer: the files stay pending, the next
      // tick retries, and the sync before the next data-page write surfaces the error to that statement.
      this.timer = setInterval(() => {
        try {
          this.syncPendingWal();
        } catch {
          /* retried on the next tick */
        }
      }, INTERVAL_SYNC_MS).unref();
    }
    return { emscriptenOpts: { ...result.emscriptenOpts, preRun } };
  }

  private walUnsynced(): boolean {
    return this.pendingWal.size > 0 || this.syncingWal.size > 0;
  }

  private fsync(fd: number, wal: boolean, path: () => string): void {
    if (wal) {
      this.pendingWal.add(path());
      this.walAsked++;
      return;
    }
    // WAL before anything else: a data file or pg_control made durable (a checkpoint) must never
    // depend on WAL that is not on disk yet, or a crash would leave a checkpoint with no record.
    if (this.walUnsynced()) this.syncWalBeforeData();
    fsyncSync(fd);
  }

  /**
   * Resolves once every WAL sync postgres asked for before this call is on disk (mode "always"; in the other
   * modes nothing is asked for here). Runs the sync on libuv's thread pool; callers arriving while one runs
   * wait for it and share the next.
   */
  async walDurable(): Promise<void> {
    if (this.mode !== "always") return;
    const target = this.walAsked;
    for (;;) {
      // Checked first, whatever is synced since: a later sync of the same file (one before a data write, on the
      // event loop) can succeed without the pages the failed one lost, so it must not make answers durable again.
      if (this.failure) throw this.failure;
      if (this.walSynced >= target) return;
      await (this.flushing ?? this.startFlush());
    }
  }

  private startFlush(): Promise<void> {
    const run = this.flush().finally(() => {
      if (this.flushing === run) this.flushing = undefined;
    });
    this.flushing = run;
    return run;
  }

  private async flush(): Promise<void> {
    const covering = this.walAsked;
    const paths = [...this.pendingWal];
    this.pendingWal.clear();
    for (const path of paths) this.syncingWal.add(path);
    try {
      for (const path of paths) await fsyncPathAsync(path);
      this.walSynced = Math.max(this.walSynced, covering);
    } catch (error) {
      // As PostgreSQL after a failed fsync (it stops): a retried fsync can succeed without the lost pages,
      // so no later statement is answered as durable. The process must be restarted (crash recovery).
      this.failure = new Error(`the embedded database's WAL could not be synced to disk (${(error as NodeJS.ErrnoException).code ?? "error"}); restart the process`, { cause: error });
      throw this.failure;
    } finally {
      for (const path of paths) this.syncingWal.delete(path);
    }
  }

  private syncWalBeforeData(): void {
    this.blockingWalSyncs++;
    this.syncPendingWal();
  }

  /** Syncs the WAL files not known to be on disk, on the calling thread; a file fsync covers every descriptor of it. */
  syncPendingWal(): void {
    const asked = this.walAsked;
    // Those the asynchronous sync is flushing too: it may not have reached them yet.
    for (const path of this.syncingWal) fsyncPath(path);
    for (const path of this.pendingWal) {
      fsyncPath(path);
      // Forgotten only once synced, so a failed sync is tried again.
      this.pendingWal.delete(path);
    }
    this.walSynced = Math.max(this.walSynced, asked);
  }

  override async closeFs(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing?.catch(() => undefined);
    if (this.walUnsynced()) this.syncPendingWal();
    await super.closeFs();
  }
}

/** Whether a write only appends zeros at or past the end of the file (a relation extended by an empty page). */
export function extendsWithZeros(fd: number, buffer: ArrayLike<number>, offset: number, length: number, position: number): boolean {
  if (typeof position !== "number" || position < fstatSync(fd).size) return false;
  for (let index = offset; index < offset + length; index++) if (buffer[index] !== 0) return false;
  return true;
}

function isWal(path: string): boolean {
  return /[/\\]pg_wal[/\\]/.test(path);
}

function fsyncPath(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    // Recycled or removed since: what it held is covered by a checkpoint, which synced it first.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function fsyncPathAsync(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Fsyncs every file and directory of a data directory (what PostgreSQL does after a crash). Files that
 * another writer left in the page cache (initdb, a restore loaded with sync off) become durable before
 * the first acknowledged commit depends on them.
 */
export function syncTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) syncTree(path);
    else if (entry.isFile()) fsyncPath(path);
  }
  fsyncPath(dir);
}
