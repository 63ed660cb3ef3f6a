import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import type { Db, Queryable } from "../../platform/db/db.ts";
import { migrate } from "../../platform/db/migrator.ts";
import { openPostgres } from "../../platform/db/postgres.ts";
import type { StatsFormat, TableStats } from "./manifest.ts";
import { COPY_TEXT_OPTIONS, copyTableStats } from "./copy-table-stats.ts";
import { statsFromArchive } from "./pgdump-archive-stats.ts";
import { libpqEnv, quoteIdent, requireClientNotOlder, runTool, streamTool } from "./postgres-tools.ts";
import { readSchemaVersion, readTableStats } from "./table-stats.repository.ts";

/** The database a URL names. */
export const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));

/** The same server, another database. */
export function urlFor(url: string, database: string): string {
  const next = new URL(url);
  next.pathname = `/${encodeURIComponent(database)}`;
  return next.href;
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const asQueryable = (client: pg.Client): Queryable => ({ query: async <Row>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as Row[] });

/**
 * pg_dump in custom format from a snapshot that this transaction exports. pg_dump writes to its standard
 * output, which `store` consumes as it comes (hashed, sealed, written once); a copy of the same bytes is
 * read for each table's row count and COPY-text checksum (format 2, ADR 0460), so the manifest describes
 * exactly what was dumped and the server reads every table once. An archive this process cannot read
 * (another pg_dump version) has its statistics read with SQL in the same snapshot instead (format 1).
 */
export async function dumpPostgres<Stored>(
  db: Db,
  url: string,
  store: (dump: Readable) => Promise<Stored>,
): Promise<{ tables: TableStats[]; statsFormat: StatsFormat; schemaVersion: string; stored: Stored; statsFallback?: string }> {
  const [server] = await db.query<{ version: string }>("SELECT current_setting('server_version_num') AS version");
  await requireClientNotOlder("pg_dump", Number(server?.version));
  return db.transaction(async (tx) => {
    await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const [snapshot] = await tx.query<{ id: string }>("SELECT pg_export_snapshot() AS id");
    const env = { ...libpqEnv(url), PGOPTIONS: COPY_TEXT_OPTIONS };
    const { stored, fromArchive } = await streamTool("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", `--snapshot=${snapshot?.id}`], env, async (dump) => {
      // Both readers take every byte: pipe() pauses pg_dump's output while either is behind.
      const copy = new PassThrough({ highWaterMark: 1024 * 1024 });
      dump.pipe(copy);
      const read = statsFromArchive(copy).then(
        (tables) => ({ tables }),
        (error: unknown) => {
          // The backup goes on without this reader. Its copy is taken off pg_dump's output and dropped:
          // resume() would not drain it (the reader's iterator still listens), and once full it would
          // pause pg_dump's output for good.
          dump.unpipe(copy);
          copy.destroy();
          return { failed: error instanceof Error ? error.message : String(error) };
        },
      );
      try {
        return { stored: await store(dump), fromArchive: await read };
      } catch (error) {
        copy.destroy();
        await read;
        throw error;
      }
    });
    const schemaVersion = await readSchemaVersion(tx);
    if ("tables" in fromArchive) return { tables: fromArchive.tables, statsFormat: 2 as const, schemaVersion, stored };
    // Still inside the exported snapshot: the same state pg_dump saw.
    return { tables: await readTableStats(tx), statsFormat: 1 as const, schemaVersion, stored, statsFallback: fromArchive.failed };
  });
}

/** A fresh, unused database name next to the target one (63 bytes at most). */
export function scratchName(target: string, purpose: "restore" | "drill"): string {
  return `${target.slice(0, 40)}_${purpose}_${randomBytes(4).toString("hex")}`;
}

/**
 * A new, empty database. From template0, as pg_dump's documentation advises for a restore target: the dump
 * brings what it needs, and a scratch lease held on template1 (when the live database is named postgres)
 * cannot block the copy.
 */
export async function createDatabase(url: string, name: string): Promise<void> {
  await withClient(url, (client) => client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`));
}

export async function dropDatabase(url: string, name: string): Promise<void> {
  await withClient(maintenanceUrl(url), (client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
}

/**
 * Loads a dump into a new, empty database and recounts its statistics the way the manifest's were computed.
 * A custom-format dump loads in three pg_restore runs: tables and rows in one transaction; the primary keys
 * and unique constraints; then the other indexes and constraints, with the recount beside that last run
 * (ADR 0540). The recount reads rows that are committed by then and that index builds do not change. A plain
 * SQL file loads in one psql run, then is recounted. An aborted signal stops the tool that runs and fails the
 * load; the caller drops the database either way. `workDir` holds the runs' item lists (removed by the caller).
 */
export async function loadAndRecount(url: string, database: string, file: string, format: "sql" | "pg_dump-custom", statsFormat: StatsFormat, signal?: AbortSignal, workDir?: string): Promise<TableStats[]> {
  const env = libpqEnv(url, database);
  const serverVersion = async () => Number((await withClient(url, async (client) => (await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows))[0]?.v);
  if (format === "sql") {
    const loadable = await withoutNewerSettings(file, await serverVersion());
    try {
      await runTool("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", loadable], env, signal, { tiedToParent: true });
    } finally {
      if (loadable !== file) await rm(loadable, { force: true });
    }
    return databaseStats(url, database, statsFormat);
  }
  await requireClientNotOlder("pg_restore", await serverVersion());
  const pgRestore = (selection: string[], more: string[], stop?: AbortSignal) =>
    runTool("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", ...more, ...selection, `--dbname=${database}`, file], env, stop, { tiedToParent: true });
  await pgRestore(["--section=pre-data", "--section=data"], ["--single-transaction"], signal);
  signal?.throwIfAborted();
  const lists = workDir ?? (await mkdtemp(join(tmpdir(), "azora-restore-lists-")));
  try {
    const { keys, rest } = await postDataRuns(file, lists);
    // Adding a primary key or unique constraint locks its table against every reader while the index builds:
    // beside the recount, the biggest table's key and its recount would wait for each other. They come first,
    // alone; what follows (indexes, foreign keys) locks out writers only, and the recount is only a reader.
    if (keys) await pgRestore([`--use-list=${keys}`], [], signal);
    signal?.throwIfAborted();
    if (!rest) return await databaseStats(url, database, statsFormat);
    // Statement by statement: one transaction would add nothing, since the copy is dropped if any of it fails.
    const recountFailed = new AbortController();
    const indexing = pgRestore([`--use-list=${rest}`], [], signal ? AbortSignal.any([signal, recountFailed.signal]) : recountFailed.signal);
    const counting = databaseStats(url, database, statsFormat).catch((error: unknown) => {
      recountFailed.abort();
      throw error;
    });
    const [indexed, counted] = await Promise.allSettled([indexing, counting]);
    // A failed index build or constraint says more than a recount it was stopped for.
    if (indexed.status === "rejected" && !recountFailed.signal.aborted) throw indexed.reason;
    if (counted.status === "rejected") throw counted.reason;
    if (indexed.status === "rejected") throw indexed.reason;
    return counted.value;
  } finally {
    if (!workDir) await rm(lists, { recursive: true, force: true });
  }
}

/**
 * The archive's post-data items as two pg_restore item lists, in the archive's own order: the leading
 * primary keys and unique constraints (pg_dump sorts them before indexes and foreign keys, which may depend
 * on them), and everything after. Either is undefined when it would be empty.
 */
async function postDataRuns(file: string, dir: string): Promise<{ keys?: string; rest?: string }> {
  const items = (await runTool("pg_restore", ["--list", "--section=post-data", file], { PATH: process.env.PATH, LANG: "C.UTF-8" }))
    .split("\n")
    .filter((line) => /^\d+;/.test(line));
  // "ID; OID OID CONSTRAINT …": a primary key, unique or exclusion constraint ("FK CONSTRAINT" is another kind).
  // pg_dump sorts a NOT VALID check ("CHECK CONSTRAINT") among them by name and puts a constraint's comment
  // right after it: both also lock the table against readers, and ending the keys at either would leave the
  // keys after it beside the recount.
  const split = items.findIndex((line) => !/^\d+; \d+ \d+ (CHECK )?CONSTRAINT |^\d+; 0 0 (COMMENT|SECURITY LABEL) \S+ CONSTRAINT /.test(line));
  const keys = split < 0 ? items : items.slice(0, split);
  const rest = split < 0 ? [] : items.slice(split);
  const write = async (name: string, lines: string[]) => {
    if (lines.length === 0) return undefined;
    const path = join(dir, name);
    await writeFile(path, `${lines.join("\n")}\n`, { mode: 0o600 });
    return path;
  };
  return { keys: await write("post-data-keys.list", keys), rest: await write("post-data-rest.list", rest) };
}

/**
 * Statistics of a database other than the live one (a restored scratch copy), computed the way the
 * manifest's were: format 1 with SQL over `row::text`, format 2 over each table's COPY text (ADR 0460).
 */
export async function databaseStats(url: string, database: string, format: StatsFormat): Promise<TableStats[]> {
  if (format === 2) {
    // pg_dump's client encoding is the database's; so is this recount's.
    return withClient(urlFor(url, database), async (client) => {
      await client.query("SELECT set_config('client_encoding', current_setting('server_encoding'), false)");
      return copyTableStats(client);
    });
  }
  return withClient(urlFor(url, database), async (client) => {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    try {
      return await readTableStats(asQueryable(client));
    } finally {
      await client.query("COMMIT");
    }
  });
}

/** Brings a restored copy up to this version's schema before it serves. */
export async function migrateDatabase(url: string, database: string): Promise<void> {
  const db = await openPostgres(urlFor(url, database), 2);
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
}

/** A database to run CREATE/DROP/RENAME from: never the one being renamed. */
export function maintenanceUrl(url: string): string {
  return urlFor(url, databaseOf(url) === "postgres" ? "template1" : "postgres");
}

/**
 * Swaps the restored copy in under the live name: new connections are refused, running sessions are
 * ended (pools reconnect to the restored database), and the previous database is kept under keepOldAs.
 */
export async function swapDatabases(url: string, restored: string, keepOldAs: string): Promise<void> {
  const live = databaseOf(url);
  await withClient(maintenanceUrl(url), async (client) => {
    await client.query(`ALTER DATABASE ${quoteIdent(live)} WITH ALLOW_CONNECTIONS false`);
    try {
      await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [live]);
      await client.query(`ALTER DATABASE ${quoteIdent(live)} RENAME TO ${quoteIdent(keepOldAs)}`);
    } catch (error) {
      await client.query(`ALTER DATABASE ${quoteIdent(live)} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
      throw error;
    }
    await client.query(`ALTER DATABASE ${quoteIdent(keepOldAs)} WITH ALLOW_CONNECTIONS true`);
    await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [restored]);
    try {
      await client.query(`ALTER DATABASE ${quoteIdent(restored)} RENAME TO ${quoteIdent(live)}`);
    } catch (error) {
      // Never leave the name empty: the previous database goes back under it.
      await client.query(`ALTER DATABASE ${quoteIdent(keepOldAs)} RENAME TO ${quoteIdent(live)}`).catch(() => undefined);
      throw error;
    }
  });
}

/**
 * PGlite's pg_dump is version 17 and opens with `SET transaction_timeout = 0;`, which older servers
 * reject: a copy without that line (the setting is the default anyway) lets a PostgreSQL 15 or 16 load it.
 */
async function withoutNewerSettings(file: string, serverVersionNum: number): Promise<string> {
  if (serverVersionNum >= 170_000) return file;
  const handle = await open(file, "r");
  const head = Buffer.alloc(64 * 1024);
  try {
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
  if (!head.toString("utf8").includes("\nSET transaction_timeout = 0;\n")) return file;
  const copy = `${file}.pg${Math.floor(serverVersionNum / 10_000)}.sql`;
  let dropped = false;
  const filter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (dropped) return done(null, chunk);
      const text = chunk.toString("latin1");
      const at = text.indexOf("\nSET transaction_timeout = 0;\n");
      if (at < 0) return done(null, chunk);
      dropped = true;
      done(null, Buffer.concat([chunk.subarray(0, at + 1), chunk.subarray(at + "\nSET transaction_timeout = 0;\n".length)]));
    },
  });
  await pipeline(createReadStream(file), filter, createWriteStream(copy, { mode: 0o600 }));
  return copy;
}
