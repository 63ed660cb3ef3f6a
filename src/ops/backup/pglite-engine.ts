import { rm, writeFile } from "node:fs/promises";
import type { PGlite } from "@electric-sql/pglite";
import { pgDump } from "@electric-sql/pglite-tools/pg_dump";
import { openPglite, type EmbeddedDb } from "../../platform/db/pglite.ts";
import type { StatsFormat, TableStats } from "./manifest.ts";
import { CopyRowsChecksum } from "./copy-rows-checksum.ts";
import { COPY_TABLES_SQL, COPY_TEXT_SETTINGS, copyOutPagesSql, tablePagesSql } from "./copy-table-stats.ts";
import { LIST_TABLES_SQL, readTableStats, STABLE_OUTPUT_SETTINGS, tableStatsSql, toStats } from "./table-stats.repository.ts";

/** A simple-protocol Query message: runs inside the exclusive section without PGlite's own locks. */
export function simpleQuery(sql: string): Uint8Array {
  const body = Buffer.from(`${sql}\0`);
  const message = Buffer.alloc(5 + body.length);
  message.write("Q", 0);
  message.writeInt32BE(4 + body.length, 1);
  body.copy(message, 5);
  return message;
}

type DataRow = { name: string; fields?: (string | null)[] };

async function rowsOf(pg: PGlite, sql: string): Promise<(string | null)[][]> {
  const { messages } = await pg.execProtocol(simpleQuery(sql));
  return (messages as DataRow[]).filter((message) => message.name === "dataRow").map((message) => message.fields ?? []);
}

/**
 * Dumps the live embedded database to plain SQL and reads every table's statistics in the same
 * exclusive section, so the manifest describes exactly the dumped state even while requests write.
 */
export async function dumpEmbedded(db: EmbeddedDb, target: string): Promise<{ tables: TableStats[]; schemaVersion: string }> {
  return db.exclusive(async (pg) => {
    const [[searchPath] = []] = await rowsOf(pg, "SHOW search_path");
    // pg_dump runs on PGlite's one connection: hand it a view of the connection that bypasses the lock we hold.
    const connection = {
      query: async () => ({ rows: [{ search_path: searchPath ?? "public" }] }),
      exec: (sql: string) => pg.execProtocol(simpleQuery(sql)),
      execProtocolRawStream: (message: Uint8Array, options: unknown) =>
        (pg as unknown as { execProtocolRawStream(m: Uint8Array, o: unknown): unknown }).execProtocolRawStream(message, options),
    };
    const file = await pgDump({ pg: connection as unknown as PGlite, args: ["--no-owner", "--no-privileges"] });
    await writeFile(target, Buffer.from(await file.arrayBuffer()), { mode: 0o600 });
    const stats = await statsOf(pg);
    const [[schemaVersion] = []] = await rowsOf(pg, "SELECT max(version) FROM schema_migrations");
    return { tables: stats, schemaVersion: schemaVersion ?? "" };
  });
}

async function statsOf(pg: PGlite): Promise<TableStats[]> {
  await rowsOf(pg, `BEGIN; ${STABLE_OUTPUT_SETTINGS.join("; ")}`);
  try {
    const tables = (await rowsOf(pg, LIST_TABLES_SQL)).map(([name]) => name ?? "");
    const stats: TableStats[] = [];
    for (const table of tables) {
      const [[rows, hashSum] = []] = await rowsOf(pg, tableStatsSql(table));
      stats.push(toStats(table, rows ?? "0", hashSum ?? "0"));
    }
    return stats;
  } finally {
    await rowsOf(pg, "COMMIT");
  }
}

/**
 * Opens a new embedded database in `dir`, runs `load` on it and reads its table statistics; on failure the
 * directory is removed. Loaded without syncing: the directory is synced as a whole when it is opened as the
 * live database.
 */
export async function loadNewPgliteDir(dir: string, load: (db: EmbeddedDb) => Promise<void>, format: StatsFormat): Promise<{ db: EmbeddedDb; stats: TableStats[] }> {
  const db = await openPglite(dir, { sync: "off" });
  try {
    await load(db);
    // The dump empties search_path for its own session; give the copy the default back.
    await db.exec("RESET search_path");
    return { db, stats: format === 2 ? await copyStatsOf(db) : await db.transaction(readTableStats) };
  } catch (error) {
    await db.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

type WrittenBlob = { _getWrittenBlob(): Promise<Blob | undefined>; _cleanupBlob(): Promise<void> };

/** Pages of a table recounted per COPY: about 8 MiB of rows, so a large table's COPY text never sits in memory whole. */
const RECOUNT_PAGES = 1024;

/**
 * Format 2 statistics of an embedded database (a PostgreSQL backup moved into it): each table's COPY text,
 * written to PGlite's in-memory file a range of pages at a time, through the checksum the backup computed
 * from pg_dump's stream (a sum over rows, so reading a table in pieces gives the same checksum).
 */
export async function copyStatsOf(db: EmbeddedDb, pagesPerCopy = RECOUNT_PAGES): Promise<TableStats[]> {
  return db.exclusive(async (pg) => {
    // Settings local to a transaction: this database becomes the live one, whose session must keep its own.
    await rowsOf(pg, `BEGIN; ${COPY_TEXT_SETTINGS.join("; ")}`);
    try {
      const tables = (await rowsOf(pg, COPY_TABLES_SQL)).map(([name, columns]) => ({ name: name ?? "", columns: columns ?? null }));
      const stats: TableStats[] = [];
      const raw = pg as unknown as WrittenBlob;
      for (const { name, columns } of tables) {
        const checksum = new CopyRowsChecksum();
        const [[pages] = []] = await rowsOf(pg, tablePagesSql(name));
        for (let first = 0; first < Number(pages ?? 0); first += pagesPerCopy) {
          try {
            await pg.execProtocol(simpleQuery(copyOutPagesSql(name, columns, first, pagesPerCopy, "'/dev/blob'")));
            const blob = await raw._getWrittenBlob();
            if (blob) for await (const piece of blob.stream()) checksum.update(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
          } finally {
            await raw._cleanupBlob();
          }
        }
        stats.push(checksum.finish(name));
      }
      return stats;
    } finally {
      await rowsOf(pg, "COMMIT");
    }
  });
}
