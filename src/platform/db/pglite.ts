import { mkdir, rename } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import type { Db, Queryable } from "./db.ts";
import { withoutValues } from "./query-error.ts";
import { startParamsFor, SyncingNodeFS, syncTree, type DbSync } from "./pglite-durability.ts";

/** The embedded database, with what backups and restores need beyond the common interface. */
export interface EmbeddedDb extends Db {
  readonly kind: "pglite";
  /** Runs work with the database to itself: no other statement or transaction starts until it ends. */
  exclusive<T>(work: (pg: PGlite) => Promise<T>): Promise<T>;
  /**
   * Replaces the data directory with a prepared one: waits for running statements, closes, moves the
   * current directory to keepOldAs, moves prepared into place and reopens. Statements arriving meanwhile wait.
   */
  swapDataDir(prepared: string, keepOldAs: string): Promise<void>;
}

export function isEmbedded(db: Db): db is EmbeddedDb {
  return db.kind === "pglite";
}

/**
 * The embedded default: Postgres compiled to WASM, one connection, data in DATA_DIR/pg. `sync` says when
 * acknowledged writes reach the disk (DB_SYNC, see pglite-durability.ts); a scratch directory that is
 * synced as a whole before use (a restore) can be loaded with "off".
 */
export async function openPglite(dir: string, options: { sync?: DbSync } = {}): Promise<EmbeddedDb> {
  const sync = options.sync ?? "always";
  await mkdir(dir, { recursive: true });
  let fs: SyncingNodeFS;
  const create = async () => {
    fs = new SyncingNodeFS(dir, sync);
    const opened = await PGlite.create({ fs, startParams: startParamsFor(sync) });
    // What initdb or a restore wrote without syncing becomes durable before any commit depends on it.
    if (sync !== "off") syncTree(dir);
    return opened;
  };
  let pg = await create();
  let inFlight = 0;
  let count = 0;
  // Set while the data directory is being swapped; every statement waits for it.
  let paused: Promise<void> | undefined;

  const track = async <T>(work: () => Promise<T>): Promise<T> => {
    while (paused) await paused;
    inFlight++;
    count++;
    try {
      return await work();
    } finally {
      inFlight--;
    }
  };
  // One statement or transaction at a time enters PGlite, after a turn of the event loop. PGlite runs
  // synchronously and hands its lock to the next waiter in a microtask, so a queue of statements (200
  // logins at once) would run back to back without ever returning to the poll phase: for seconds no
  // connection would be accepted and no request read, and a stop meanwhile reset them all.
  let gate: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const run = gate.then(() => new Promise((resolve) => setImmediate(resolve))).then(work);
    gate = run.catch(() => undefined);
    return run;
  };
  // A result is handed over only once the WAL it depends on is on disk (DB_SYNC=always; the sync runs off the
  // event loop, see SyncingNodeFS). Awaited outside the turn, so the next statement runs meanwhile and commits
  // ending during one sync share the next. An error waits too: it can tell of a commit it saw (a unique
  // violation names the row another statement just committed), or follow a commit of the same script.
  const durable = async <T>(result: Promise<T>): Promise<T> => {
    let value: T;
    try {
      value = await result;
    } catch (error) {
      await fs.walDurable();
      throw error;
    }
    await fs.walDurable();
    return value;
  };
  const wrap = (target: () => Pick<PGlite, "query">): Queryable => ({
    query: <Row>(sql: string, params: unknown[] = []) => track(() => withoutValues(sql, async () => (await target().query<Row>(sql, params)).rows)),
  });
  const outer = wrap(() => pg);
  // Housekeeping waits its turn (and for a data directory swap) like any statement, but is not counted.
  const background: Queryable = {
    query: async <Row>(sql: string, params: unknown[] = []) => {
      while (paused) await paused;
      return durable(withoutValues(sql, async () => (await pg.query<Row>(sql, params)).rows));
    },
  };

  return {
    kind: "pglite",
    // Statements inside a transaction are not gated: the transaction holds the turn.
    query: (sql, params) => durable(inTurn(() => outer.query(sql, params))),
    background,
    transaction: (fn) => durable(inTurn(() => track(() => withoutValues("COMMIT", () => pg.transaction((tx) => fn(wrap(() => tx))))))),
    exec: async (sql) => {
      await durable(inTurn(() => track(() => withoutValues(sql, () => pg.exec(sql)))));
    },
    // PGlite's own lock for transactions also holds back plain statements, so this waits for open transactions too.
    exclusive: (work) => durable(inTurn(() => track(() => (pg as unknown as { _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T> })._runExclusiveTransaction(() => work(pg))))),
    async swapDataDir(prepared, keepOldAs) {
      let resume = () => undefined as void;
      paused = new Promise<void>((resolve) => (resume = resolve));
      try {
        while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 10));
        await pg.close();
        try {
          await rename(dir, keepOldAs);
          await rename(prepared, dir);
        } catch (error) {
          // Put the previous directory back before reopening, so a failed swap changes nothing.
          await rename(keepOldAs, dir).catch(() => undefined);
          throw error;
        } finally {
          pg = await create();
        }
      } finally {
        paused = undefined;
        resume();
      }
    },
    // PGlite has exactly one connection: it is in use while any statement runs.
    activeConnections: () => Math.min(inFlight, 1),
    maxConnections: () => 1,
    queryCount: () => count,
    close: () => pg.close(),
  };
}
