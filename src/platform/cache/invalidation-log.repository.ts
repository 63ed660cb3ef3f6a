import type { Queryable } from "../db/db.ts";

/** The longest TTL of any cached entry: an invalidation older than this has nothing left to make stale. */
export const CACHE_MAX_TTL_SECONDS = 3600;
/** Rows are kept a little longer than the longest TTL, so a slow replica still finds them. */
const RETENTION_SECONDS = CACHE_MAX_TTL_SECONDS + 300;

export interface Invalidation {
  id: string;
  key: string;
  /** When the write committed, in ms since the epoch (database clock). */
  atMs: number;
}

/** Records keys made stale by a write; call it inside the write's transaction so both commit together. */
export async function recordInvalidations(tx: Queryable, keys: string[]): Promise<void> {
  if (keys.length > 0) await tx.query("INSERT INTO cache_invalidations (cache_key) SELECT unnest($1::text[])", [keys]);
}

/** Reads and purges the invalidation log (table cache_invalidations). */
export function createInvalidationLogRepository(db: Queryable) {
  return {
    /** Invalidations after `sinceMs`; without it, every one still within the retention window. */
    async since(sinceMs: number | undefined): Promise<Invalidation[]> {
      const rows = await db.query<{ id: string; cache_key: string; at_ms: number }>(
        `SELECT id::text AS id, cache_key, (extract(epoch FROM created_at) * 1000)::float8 AS at_ms
           FROM cache_invalidations
          WHERE created_at > COALESCE(to_timestamp($1::float8 / 1000), now() - make_interval(secs => $2))
          ORDER BY created_at, id
          LIMIT 10000`,
        [sinceMs ?? null, RETENTION_SECONDS],
      );
      return rows.map((row) => ({ id: row.id, key: row.cache_key, atMs: Number(row.at_ms) }));
    },
    async purge(): Promise<void> {
      await db.query("DELETE FROM cache_invalidations WHERE created_at < now() - make_interval(secs => $1)", [RETENTION_SECONDS]);
    },
  };
}

export type InvalidationLogRepository = ReturnType<typeof createInvalidationLogRepository>;
