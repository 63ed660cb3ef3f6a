import type { TableStats } from "./manifest.ts";
import { CopyRowsChecksum } from "./copy-rows-checksum.ts";
import { libpqEnv, quoteIdent, streamTool } from "./postgres-tools.ts";

/**
 * The session settings COPY text depends on beyond those pg_dump sets itself (DateStyle ISO, IntervalStyle
 * postgres, extra_float_digits 3): given to pg_dump and to the recount alike, so both see the same lines
 * whatever the server's or the role's defaults.
 */
export const COPY_TEXT_OPTIONS = "-c TimeZone=UTC -c bytea_output=hex -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3";
export const COPY_TEXT_SETTINGS = ["SET LOCAL TimeZone = 'UTC'", "SET LOCAL bytea_output = 'hex'", "SET LOCAL DateStyle = 'ISO'", "SET LOCAL IntervalStyle = 'postgres'", "SET LOCAL extra_float_digits = 3"];

/**
 * The tables pg_dump writes rows for in schema public (ordinary tables), each with the column list of its
 * COPY: stored columns in order, generated ones left out, as pg_dump does.
 */
export const COPY_TABLES_SQL = `SELECT c.relname AS name, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) AS columns
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
WHERE n.nspname = 'public' AND c.relkind = 'r' GROUP BY c.relname ORDER BY c.relname`;

/** The COPY that writes a table's rows as pg_dump does, to `target` (STDOUT, or PGlite's '/dev/blob'). */
export function copyOutSql(table: string, columns: string | null, target: string): string {
  return `COPY public.${quoteIdent(table)}${columns ? ` (${columns})` : ""} TO ${target}`;
}

/**
 * Format 2 statistics of a PostgreSQL database (a restored copy): each table's rows streamed by
 * `COPY … TO STDOUT` through the checksum a backup computes from pg_dump's stream (ADR 0460).
 */
export async function copyTableStats(url: string, database: string, tables: { name: string; columns: string | null }[], encoding: string): Promise<TableStats[]> {
  const env = { ...libpqEnv(url, database), PGOPTIONS: COPY_TEXT_OPTIONS, PGCLIENTENCODING: encoding };
  const stats: TableStats[] = [];
  for (const { name, columns } of tables) {
    const checksum = new CopyRowsChecksum();
    await streamTool("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", copyOutSql(name, columns, "STDOUT")], env, async (rows) => {
      for await (const chunk of rows) checksum.update(chunk as Buffer);
    });
    stats.push(checksum.finish(name));
  }
  return stats;
}
