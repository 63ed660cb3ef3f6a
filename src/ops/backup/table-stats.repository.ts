import { createHash } from "node:crypto";
import type { Queryable } from "../../platform/db/db.ts";
import type { TableStats } from "./manifest.ts";

// Row text depends on these settings (timestamps above all): fix them so PGlite and PostgreSQL agree.
export const STABLE_OUTPUT_SETTINGS = ["SET LOCAL TimeZone = 'UTC'", "SET LOCAL DateStyle = 'ISO, MDY'", "SET LOCAL extra_float_digits = 1"];

export const LIST_TABLES_SQL = "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public' ORDER BY tablename";

/**
 * One pass per table: the row count and an order-independent sum of the rows' hashes, so the same rows
 * give the same checksum whatever their physical order (a restore reorders them).
 */
export function tableStatsSql(table: string): string {
  const quoted = `"${table.replaceAll('"', '""')}"`;
  return `SELECT count(*)::text AS rows, coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text AS hashsum FROM public.${quoted} t`;
}

export function toStats(table: string, rows: string, hashSum: string): TableStats {
  return { name: table, rows: Number(rows), checksum: createHash("sha256").update(`${rows}:${hashSum}`).digest("hex").slice(0, 32) };
}

/** Row counts and checksums of every table in public, read inside the caller's transaction. */
export async function readTableStats(tx: Queryable): Promise<TableStats[]> {
  for (const setting of STABLE_OUTPUT_SETTINGS) await tx.query(setting);
  const tables = await tx.query<{ tablename: string }>(LIST_TABLES_SQL);
  const stats: TableStats[] = [];
  for (const { tablename } of tables) {
    const [row] = await tx.query<{ rows: string; hashsum: string }>(tableStatsSql(tablename));
    stats.push(toStats(tablename, row?.rows ?? "0", row?.hashsum ?? "0"));
  }
  return stats;
}

/** The newest migration recorded in the database: the schema version a backup carries. */
export async function readSchemaVersion(db: Queryable): Promise<string> {
  const [row] = await db.query<{ version: string | null }>("SELECT max(version) AS version FROM schema_migrations");
  return row?.version ?? "";
}
