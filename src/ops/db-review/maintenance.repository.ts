import type { Db } from "../../platform/db/db.ts";
import { quoteIdent } from "../backup/postgres-tools.ts";

/** A table with dead rows: how much of it VACUUM could reuse. */
export interface BloatEstimate {
  table: string;
  bytes: number;
  liveRows: number;
  deadRows: number;
  /** bytes × dead / (live + dead): a rough estimate from the statistics, not a page-level measurement. */
  estimatedBloatBytes: number;
}

export interface IndexFinding {
  index: string;
  table: string;
  bytes: number;
  detail: string;
}

/** Tables with dead rows, most bloated first (statistics from pg_stat_user_tables). */
export async function bloatEstimates(db: Db): Promise<BloatEstimate[]> {
  const rows = await db.query<{ table: string; bytes: string; live: string; dead: string }>(
    `SELECT s.relname AS table, pg_table_size(s.relid) AS bytes, s.n_live_tup AS live, s.n_dead_tup AS dead
       FROM pg_stat_user_tables s WHERE s.schemaname = 'public' AND s.n_dead_tup > 0 ORDER BY s.n_dead_tup DESC`,
  );
  return rows.map((row) => {
    const live = Number(row.live);
    const dead = Number(row.dead);
    const bytes = Number(row.bytes);
    return { table: row.table, bytes, liveRows: live, deadRows: dead, estimatedBloatBytes: Math.round((bytes * dead) / Math.max(1, live + dead)) };
  });
}

/** Indexes never scanned since the statistics were reset, that enforce nothing (not unique, not a primary key). */
export async function unusedIndexes(db: Db): Promise<IndexFinding[]> {
  const rows = await db.query<{ index: string; table: string; bytes: string }>(
    `SELECT s.indexrelname AS index, s.relname AS table, pg_relation_size(s.indexrelid) AS bytes
       FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
      WHERE s.schemaname = 'public' AND s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
      ORDER BY pg_relation_size(s.indexrelid) DESC, 1`,
  );
  return rows.map((row) => ({ index: row.index, table: row.table, bytes: Number(row.bytes), detail: "never used since statistics were reset: a candidate for DROP INDEX CONCURRENTLY" }));
}

/** Indexes that repeat another on the same columns, operator classes, expressions and predicate. */
export async function duplicateIndexes(db: Db): Promise<IndexFinding[]> {
  const rows = await db.query<{ table: string; indexes: string[]; bytes: string }>(
    `SELECT t.relname AS table, array_agg(ic.relname::text ORDER BY ic.relname) AS indexes, sum(pg_relation_size(ic.oid)) AS bytes
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = 'public'
      GROUP BY t.relname, i.indrelid, i.indkey::text, i.indclass::text, coalesce(i.indexprs::text, ''), coalesce(i.indpred::text, '')
     HAVING count(*) > 1 ORDER BY 1`,
  );
  return rows.map((row) => {
    const [keep, ...rest] = row.indexes;
    return { index: rest.join(", "), table: row.table, bytes: Number(row.bytes), detail: `duplicate${rest.length > 1 ? "s" : ""} of ${keep ?? "?"}: keep one` };
  });
}

/** Foreign keys whose columns lead no index: deleting a parent row scans the whole child table. */
export async function missingForeignKeyIndexes(db: Db): Promise<{ table: string; columns: string[]; constraint: string; suggestion: string }[]> {
  const rows = await db.query<{ table: string; constraint: string; columns: string[] }>(
    `SELECT t.relname AS table, c.conname AS constraint,
            array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, ord)
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord) AS columns
       FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE c.contype = 'f' AND n.nspname = 'public'
        AND NOT EXISTS (
          SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid
             AND (string_to_array(i.indkey::text, ' ')::int2[])[1:array_length(c.conkey, 1)] @> c.conkey
             AND (string_to_array(i.indkey::text, ' ')::int2[])[1:array_length(c.conkey, 1)] <@ c.conkey)
      ORDER BY 1, 2`,
  );
  return rows.map((row) => ({
    ...row,
    suggestion: `CREATE INDEX CONCURRENTLY ON ${quoteIdent(row.table)} (${row.columns.map(quoteIdent).join(", ")})`,
  }));
}

/** Indexes a failed CREATE/REINDEX CONCURRENTLY left invalid: they cost writes and serve no read. */
export async function invalidIndexNames(db: Db): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    `SELECT ic.relname AS name FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
      WHERE n.nspname = 'public' AND NOT i.indisvalid ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

/** VACUUM (ANALYZE) of the whole database: reclaims dead rows for reuse and refreshes the planner's statistics. */
export async function vacuumAnalyze(db: Db): Promise<void> {
  await db.query(`VACUUM (ANALYZE)`);
}

/** Rebuilds an index without blocking writes (PostgreSQL; cannot run inside a transaction). */
export async function reindexConcurrently(db: Db, index: string): Promise<void> {
  await db.query(`REINDEX INDEX CONCURRENTLY public.${quoteIdent(index)}`);
}
