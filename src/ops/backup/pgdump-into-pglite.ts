import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import type { PGlite } from "@electric-sql/pglite";
import type { EmbeddedDb } from "../../platform/db/pglite.ts";
import type { StatsFormat, TableStats } from "./manifest.ts";
import { loadNewPgliteDir, simpleQuery } from "./pglite-engine.ts";
import { runTool } from "./postgres-tools.ts";

/** Rows are handed to PGlite's COPY in pieces of about this size, so a large table never sits in memory whole. */
const COPY_CHUNK_BYTES = 8 * 1024 * 1024;

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
    await loadSqlWithCopyBlocks(db, sqlFile);
    await rm(sqlFile, { force: true });
  }, format);
}

/** The lines of a file, split on "\n" only (a COPY row never holds a raw newline; "\r" stays data). */
async function* linesOf(file: string): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of createReadStream(file, { encoding: "utf8", highWaterMark: 1024 * 1024 })) {
    const parts = (rest + (chunk as string)).split("\n");
    rest = parts.pop() ?? "";
    yield* parts;
  }
  if (rest) yield rest;
}

const COPY_FROM_STDIN = /^COPY (.+) FROM stdin;$/;

/** Runs plain SQL as pg_restore writes it: statements go to exec, `COPY … FROM stdin` rows to COPY. */
async function loadSqlWithCopyBlocks(db: EmbeddedDb, sqlFile: string): Promise<void> {
  let statements: string[] = [];
  let copyTarget: string | undefined;
  let rows: string[] = [];
  let rowBytes = 0;
  const flushStatements = async () => {
    const sql = statements.join("\n");
    statements = [];
    if (sql.trim()) await db.exec(sql);
  };
  const flushRows = async () => {
    if (copyTarget && rows.length > 0) await copyRows(db, copyTarget, `${rows.join("\n")}\n`);
    rows = [];
    rowBytes = 0;
  };
  for await (const line of linesOf(sqlFile)) {
    if (copyTarget !== undefined) {
      if (line === "\\.") {
        await flushRows();
        copyTarget = undefined;
        continue;
      }
      rows.push(line);
      rowBytes += line.length + 1;
      if (rowBytes >= COPY_CHUNK_BYTES) await flushRows();
      continue;
    }
    const copy = COPY_FROM_STDIN.exec(line);
    if (copy) {
      await flushStatements();
      copyTarget = copy[1];
      continue;
    }
    // pg_restore 15.14+/16.10+/17.6+ fence the script with psql's \restrict; they mean nothing outside psql.
    if (/^\\(un)?restrict\b/.test(line)) continue;
    if (line.startsWith("\\")) throw new Error(`the converted dump holds a psql command the embedded database cannot run: ${line.slice(0, 40)}`);
    statements.push(line);
  }
  if (copyTarget !== undefined) throw new Error(`the converted dump ends inside the rows of ${copyTarget} (cut off)`);
  await flushStatements();
}

type BlobHandling = { _handleBlob(blob: Blob): Promise<void>; _cleanupBlob(): Promise<void> };

/**
 * COPY rows in text format (as pg_dump writes them) from PGlite's in-memory file `/dev/blob`. PGlite's own
 * query({ blob }) takes the lock that exclusive() already holds, so the blob is set and the COPY sent here directly.
 */
async function copyRows(db: EmbeddedDb, target: string, text: string): Promise<void> {
  await db.exclusive(async (pg: PGlite) => {
    const raw = pg as unknown as BlobHandling;
    await raw._handleBlob(new Blob([text]));
    try {
      await pg.execProtocol(simpleQuery(`COPY ${target} FROM '/dev/blob'`));
    } finally {
      await raw._cleanupBlob();
    }
  });
}
