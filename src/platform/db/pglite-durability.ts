import { closeSync, fsyncSync, openSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { NodeFS } from "@electric-sql/pglite/nodefs";

/**
 * When the embedded database's acknowledged writes reach the disk (DB_SYNC):
 * - always: every commit's WAL is fsynced before the commit returns (PostgreSQL's fsync=on).
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
  NODEFS: { stream_ops: Record<string, unknown>; realPath(node: unknown): string };
}

/**
 * PGlite's Node file system, whose fsync reaches the disk. The stock one maps files straight to the host
 * but has no fsync operation, so every fsync postgres asks for silently succeeds without syncing.
 */
export class SyncingNodeFS extends NodeFS {
  /** WAL files written since the last timer sync (mode "interval" only). */
  private readonly pendingWal = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

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
      if (this.mode === "interval") {
        // WAL before data, as PostgreSQL itself requires: before any other file (a data page evicted or
        // checkpointed, the commit log, pg_control) is even handed to the OS, the WAL it depends on is on
        // disk. Otherwise the OS could write that page back before its WAL, and a crash would leave
        // changes with no WAL to explain them (a torn index split, say): loss could become corruption.
        const write = ops.write as (stream: EmscriptenStream, ...rest: unknown[]) => number;
        ops.write = (stream: EmscriptenStream, ...rest: unknown[]) => {
          if (this.pendingWal.size > 0 && !walStream(stream)) this.syncPendingWal();
          return write(stream, ...rest);
        };
      }
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

  private fsync(fd: number, wal: boolean, path: () => string): void {
    if (this.mode === "interval") {
      if (wal) {
        this.pendingWal.add(path());
        return;
      }
      // WAL before anything else: a data file or pg_control made durable (a checkpoint) must never
      // depend on WAL that is not on disk yet, or a crash would leave a checkpoint with no record.
      this.syncPendingWal();
    }
    fsyncSync(fd);
  }

  /** Syncs the WAL files written since the last call; a file fsync covers every descriptor of it. */
  syncPendingWal(): void {
    for (const path of this.pendingWal) {
      fsyncPath(path);
      // Forgotten only once synced, so a failed sync is tried again.
      this.pendingWal.delete(path);
    }
  }

  override async closeFs(): Promise<void> {
    clearInterval(this.timer);
    this.syncPendingWal();
    await super.closeFs();
  }
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
