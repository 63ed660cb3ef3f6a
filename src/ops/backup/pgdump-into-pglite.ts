import { rm } from "node:fs/promises";
import type { EmbeddedDb } from "../../platform/db/pglite.ts";
import type { StatsFormat, TableStats } from "./manifest.ts";
import { loadNewPgliteDir } from "./pglite-engine.ts";
import { runSqlScript } from "./pglite-sql-script.ts";
import { runTool } from "./postgres-tools.ts";

/**
 * A PostgreSQL backup (pg_dump custom format) into the embedded default: pg_restore turns the archive into
 * plain SQL (it needs no server for that), and the SQL is loaded into a new PGlite directory. The rows of
 * that SQL come as `COPY … FROM stdin` blocks, which PGlite cannot read from a script: each block is handed
 * to PGlite's COPY through its in-memory file instead. A failed load removes the directory.
 */
export async function loadPgDumpIntoNewPgliteDir(dumpFile: string, sqlFile: string, dir: string, format: StatsFormat): Promise<{ db: EmbeddedDb; stats: TableStats[] }> {
  // PATH only: pg_restore writing a file needs no connection settings, and gets none.
  await runTool("pg_restore", ["--no-owner", "--no-privileges", `--file=${sqlFile}`, dumpFile], { PATH: process.env.PATH, LANG: "C.UTF-8" });
  return loadNewPgliteDir(dir, async (db) => {
    await runSqlScript(db, sqlFile, "the converted dump");
    await rm(sqlFile, { force: true });
  }, format);
}
