import type { Queryable } from "../db/db.ts";

/** The longest TTL of any cached entry: an invalidation older than this has nothing left to make stale. */
export const CACHE_MAX_TTL_SECONDS = 3600;
/** Rows are kept a little longer than the longest TTL, so a slow replica still finds them. */
const RETENTION_SECONDS = CACHE_MAX_TTL_SECONDS + 300;

/**
 * What one replay reads: the keys of the rows committed since the previous replay's snapshot, and this
 * replay's snapshot (pg_snapshot text), the cursor of the next one.
 */
export interface InvalidationBatch {
  keys: string[];
  snapshot: string;
}

/** Records keys made stale by a write; call it inside the write's transaction so both commit together. */
export async function recordInvalidations(tx: Queryable, keys: string[]): Promise<void> {
  if (keys.length > 0) await tx.query("INSERT INTO cache_invalidations (cache_key) SELECT unnest($1::text[])", [keys]);
}

/**
 * Reads and purges the invalidation log (table cache_invalidations).
 *
 * The cursor is a snapshot, not a time: every row carries the id of the transaction that wrote it (xact),
 * and a replay reads, in one statement, the rows visible to its own snapshot but not to the previous
 * replay's (`pg_visible_in_snapshot`). A transaction still open at the previous replay is in that
 * snapshot's in-progress list, so its rows are read once it commits, however long after their insert that
 * is. Time (created_at) only bounds the first replay of a process and the purge. On the embedded database
 * (one connection, transactions one after another) no transaction is ever open during a replay; the same
 * statement serves, and a wall clock that steps back cannot hide a row from it either.
 */
export function createInvalidationLogRepository(db: Queryable) {
  /** Every key still within the retention window (a process's first replay, or after the database changed). */
  async function all(): Promise<InvalidationBatch> {
    const [row] = await db.query<{ snapshot: string; keys: string }>(
      `SELECT pg_current_snapshot()::text AS snapshot,
              (SELECT COALESCE(json_agg(DISTINCT cache_key), '[]'::json) FROM cache_invalidations
                WHERE created_at > now() - make_interval(secs => $1))::text AS keys`,
      [RETENTION_SECONDS],
    );
    return batchOf(row);
  }

  return {
    /** Keys committed since the replay that returned `snapshot`; without it, every key still within the retention window. */
    async since(snapshot: string | undefined): Promise<InvalidationBatch> {
      if (snapshot === undefined) return all();
      const [row] = await db.query<{ snapshot: string; keys: string; went_back: boolean }>(
        `SELECT pg_current_snapshot()::text AS snapshot,
                pg_snapshot_xmax(pg_current_snapshot()) < pg_snapshot_xmax($1::pg_snapshot) AS went_back,
                (SELECT COALESCE(json_agg(DISTINCT cache_key), '[]'::json) FROM cache_invalidations
                  WHERE xact >= pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(xact, $1::pg_snapshot))::text AS keys`,
        [snapshot],
      );
      // Transaction ids never go back in one cluster: when they do, this is another database (a restored
      // embedded directory, a new cluster), and the previous snapshot says nothing about it.
      if (row?.went_back) return all();
      return batchOf(row);
    },
    async purge(): Promise<void> {
      await db.query("DELETE FROM cache_invalidations WHERE created_at < now() - make_interval(secs => $1)", [RETENTION_SECONDS]);
    },
  };
}

function batchOf(row: { snapshot: string; keys: string } | undefined): InvalidationBatch {
  if (!row) throw new Error("the invalidation log query returned no row");
  return { snapshot: row.snapshot, keys: JSON.parse(row.keys) as string[] };
}

export type InvalidationLogRepository = ReturnType<typeof createInvalidationLogRepository>;
