import type { TableStats } from "./manifest.ts";
import { CopyRowsChecksum } from "./copy-rows-checksum.ts";
import type pg from "pg";
import { quoteIdent } from "./postgres-tools.ts";

/**
 * The session settings COPY text depends on (pg_dump sets DateStyle, IntervalStyle and extra_float_digits
 * itself, but not the time zone or bytea_output): given to pg_dump and to the recount alike, so both see
 * the same lines whatever the server's, the database's or the role's defaults.
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

/** The COPY that writes a table's rows as pg_dump does, to `target` (STDOUT). */
export function copyOutSql(table: string, columns: string | null, target: string): string {
  return `COPY public.${quoteIdent(table)}${columns ? ` (${columns})` : ""} TO ${target}`;
}

/**
 * The COPY that writes the rows stored in pages [firstPage, firstPage + pages) of a table, in the same text as
 * copyOutSql (same columns, same output functions): a table read a range of pages at a time, where the rows
 * cannot be streamed out (PGlite's COPY writes to an in-memory file).
 */
export function copyOutPagesSql(table: string, columns: string | null, firstPage: number, pages: number, target: string): string {
  return `COPY (SELECT ${columns ?? ""} FROM public.${quoteIdent(table)} WHERE ctid >= '(${firstPage},0)' AND ctid < '(${firstPage + pages},0)') TO ${target}`;
}

/** How many pages a table's rows take (its main fork), for copyOutPagesSql. */
export function tablePagesSql(table: string): string {
  const name = `public.${quoteIdent(table)}`.replaceAll("'", "''");
  return `SELECT ceil(pg_relation_size('${name}'::regclass) / current_setting('block_size')::numeric)::bigint`;
}

/**
 * `COPY … TO STDOUT` as a node-postgres submittable: the server sends one CopyData message per row, each
 * handed to onRows as it arrives (no buffering, no client process per table).
 */
class CopyOut {
  readonly done: Promise<void>;
  private settle: { resolve: () => void; reject: (error: Error) => void } = { resolve: () => undefined, reject: () => undefined };
  constructor(
    private readonly text: string,
    private readonly onRows: (chunk: Buffer) => void,
  ) {
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }
  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }
  handleCopyData(message: { chunk: Buffer }): void {
    this.onRows(message.chunk);
  }
  handleError(error: Error): void {
    // The client forgets a query once it failed: no readyForQuery reaches it.
    this.settle.reject(error);
  }
  handleReadyForQuery(): void {
    this.settle.resolve();
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}

/**
 * Format 2 statistics of a PostgreSQL database (a restored copy): each table's rows streamed by
 * `COPY … TO STDOUT` through the checksum a backup computes from pg_dump's stream (ADR 0460).
 */
export async function copyTableStats(client: pg.Client): Promise<TableStats[]> {
  for (const setting of COPY_TEXT_SETTINGS) await client.query(setting.replace("SET LOCAL", "SET"));
  const { rows: tables } = await client.query<{ name: string; columns: string | null }>(COPY_TABLES_SQL);
  const stats: TableStats[] = [];
  for (const { name, columns } of tables) {
    const checksum = new CopyRowsChecksum();
    const copy = new CopyOut(copyOutSql(name, columns, "STDOUT"), (chunk) => checksum.update(chunk));
    void client.query(copy as unknown as pg.QueryConfig);
    await copy.done;
    stats.push(checksum.finish(name));
  }
  return stats;
}
