import type { PGlite } from "@electric-sql/pglite";
import type { EmbeddedDb } from "../../platform/db/pglite.ts";
import type { StatsFormat, TableStats } from "./manifest.ts";
import { loadNewPgliteDir, simpleQuery } from "./pglite-engine.ts";
import { splitSqlFile, standardStringsSetBy } from "./sql-script-splitter.ts";

/** Statements are sent to the embedded database in batches of about this size: one call each, never the whole file. */
const STATEMENT_BATCH_CHARS = 1024 * 1024;

/**
 * Loads a plain SQL file (PGlite's own dump, or one written by hand) into a new PGlite directory (never the
 * live one) and returns it open, with its statistics. A failed load removes the directory.
 */
export function loadIntoNewPgliteDir(sqlFile: string, dir: string, format: StatsFormat = 1): Promise<{ db: EmbeddedDb; stats: TableStats[] }> {
  return loadNewPgliteDir(dir, (db) => runSqlScript(db, sqlFile, sqlFile), format);
}

/**
 * Runs a plain SQL script as psql would, read as a stream: statements go to exec in batches, the rows of each
 * `COPY … FROM stdin` block to PGlite's COPY in pieces, so memory holds one batch or piece, not the file.
 * `\restrict` lines (pg_dump 17.6+ fences its scripts with them) mean nothing outside psql and are skipped;
 * any other psql command refuses the load. `label` names the script in errors.
 */
export async function runSqlScript(db: EmbeddedDb, sqlFile: string, label: string): Promise<void> {
  let batch: string[] = [];
  let batchChars = 0;
  let copySql: string | undefined;
  let copyTarget = "";
  const flush = async () => {
    const sql = batch.join("\n");
    batch = [];
    batchChars = 0;
    if (sql) await db.exec(sql);
  };
  for await (const part of splitSqlFile(sqlFile, label)) {
    switch (part.kind) {
      case "statement":
        batch.push(part.sql);
        batchChars += part.sql.length;
        // The statements after a SET standard_conforming_strings must reach the server after it took effect.
        if (batchChars >= STATEMENT_BATCH_CHARS || standardStringsSetBy(part.sql) !== undefined) await flush();
        break;
      case "meta":
        if (/^\\(un)?restrict\b/.test(part.line)) break;
        throw new Error(`${label} holds a psql command the embedded database cannot run: ${part.line.slice(0, 40)}`);
      case "copy":
        await flush();
        // PGlite reads COPY rows from its in-memory file instead of the client.
        copySql = `${part.sql.slice(0, part.stdin.start)}'/dev/blob'${part.sql.slice(part.stdin.end)}`;
        copyTarget = part.target;
        break;
      case "copy-rows":
        if (copySql) await copyRows(db, copySql, part.rows);
        break;
      case "copy-end":
        if (!part.complete) throw new Error(`${label} ends inside the rows of ${copyTarget} (cut off)`);
        copySql = undefined;
        break;
    }
  }
  await flush();
}

type BlobHandling = { _handleBlob(blob: Blob): Promise<void>; _cleanupBlob(): Promise<void> };

/**
 * Runs `COPY … FROM '/dev/blob'` over rows in text format (as pg_dump writes them) put in PGlite's in-memory
 * file. PGlite's own query({ blob }) takes the lock that exclusive() already holds, so the blob is set and the
 * COPY sent here directly.
 */
async function copyRows(db: EmbeddedDb, copySql: string, rows: string): Promise<void> {
  await db.exclusive(async (pg: PGlite) => {
    const raw = pg as unknown as BlobHandling;
    await raw._handleBlob(new Blob([rows]));
    try {
      await pg.execProtocol(simpleQuery(copySql));
    } finally {
      await raw._cleanupBlob();
    }
  });
}
