import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareTables } from "../src/ops/backup/manifest.ts";
import { createDatabase, databaseStats, dropDatabase, dumpPostgres, loadAndRecount, urlFor } from "../src/ops/backup/postgres-engine.ts";
import { sealFile } from "../src/ops/backup/sealed-file.ts";
import type { Db } from "../src/platform/db/db.ts";
import { openPostgres } from "../src/platform/db/postgres.ts";
import { backends } from "./helpers/backends.ts";

const postgres = backends().find((backend) => backend.name === "postgres+redis");
const slow = 120_000;

/**
 * Format 2 manifests (ADR 0460): a PostgreSQL backup reads each table's row count and checksum from
 * pg_dump's own stream, and a restore recounts them from the restored copy with COPY. Both sides must
 * agree on rows that COPY escapes, whatever the database's output settings, and the recount must still
 * catch a changed or missing row.
 */
describe.runIf(postgres)("table statistics read from pg_dump's stream (postgres)", () => {
  const server = process.env.DATABASE_URL ?? "";
  const source = `azora_stats_${randomBytes(4).toString("hex")}`;
  const copy = `${source}_copy`;
  let dir: string;
  let db: Db;

  const admin = async (sql: string, database = source) => {
    const client = new pg.Client({ connectionString: urlFor(server, database) });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-stats-"));
    await createDatabase(server, source);
    // Output settings a dump must not depend on: another time zone and bytea_output for this database.
    await admin(`ALTER DATABASE ${source} SET TimeZone = 'America/New_York'`);
    await admin(`ALTER DATABASE ${source} SET bytea_output = 'escape'`);
    await admin(`
      CREATE TABLE schema_migrations (version text PRIMARY KEY);
      INSERT INTO schema_migrations VALUES ('20261101000000_init');
      CREATE TABLE tricky (
        id int PRIMARY KEY, note text, raw bytea, at timestamptz, ratio float8, amount numeric, doc jsonb, tags text[],
        doubled int GENERATED ALWAYS AS (id * 2) STORED
      );
      INSERT INTO tricky (id, note, raw, at, ratio, amount, doc, tags) VALUES
        (1, E'tab\\there', '\\x00ff0a', '2026-11-29 12:00:00+01', 0.1, 12.50, '{"a": [1, "x\\ny"]}', ARRAY['a b', NULL]),
        (2, E'line\\nbreak and \\r return', NULL, NULL, 1e-300, NULL, NULL, NULL),
        (3, E'back\\\\slash', '', '1999-01-08 04:05:06', 'NaN', -0.0, 'null', '{}'),
        (4, '\\.', E'\\\\x5c2e', 'infinity', 'Infinity', 1e20, '[]', ARRAY['\\.']),
        (5, 'Grüße 日本', NULL, '2026-03-29 02:30:00+00', 3.141592653589793, 1, '{"k": "ü"}', ARRAY['"quoted"']),
        (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
      CREATE TABLE empty_one (id int);
      CREATE TABLE no_columns ();
      INSERT INTO no_columns DEFAULT VALUES;
      INSERT INTO no_columns DEFAULT VALUES;
      CREATE SCHEMA other;
      CREATE TABLE other.ignored (id int);
      INSERT INTO other.ignored VALUES (1);
    `);
    db = await openPostgres(urlFor(server, source), 2);
  }, slow);
  afterAll(async () => {
    await db?.close();
    await dropDatabase(server, copy).catch(() => undefined);
    await dropDatabase(server, source).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it("the statistics of the stream equal the recount of a restored copy, and a changed or missing row is caught", async () => {
    const file = join(dir, "database.pgdump");
    const dumped = await dumpPostgres(db, urlFor(server, source), (dump) => sealFile(dump, file, { gzip: false, key: undefined }));
    expect(dumped.statsFallback).toBeUndefined();
    expect(dumped.statsFormat).toBe(2);
    expect(dumped.schemaVersion).toBe("20261101000000_init");
    expect(dumped.tables.map((table) => [table.name, table.rows])).toEqual([
      ["empty_one", 0],
      ["no_columns", 2],
      ["schema_migrations", 1],
      ["tricky", 6],
    ]);
    // The live database recounted the restore's way: the same figures without any dump in between.
    expect(await databaseStats(server, source, 2)).toEqual(dumped.tables);

    await createDatabase(server, copy);
    // Recounted beside the index builds, the restore's way: the same figures as after them.
    expect(compareTables(dumped.tables, await loadAndRecount(server, copy, file, "pg_dump-custom", 2))).toEqual([]);
    expect(compareTables(dumped.tables, await databaseStats(server, copy, 2))).toEqual([]);

    await admin("UPDATE tricky SET note = 'tab there' WHERE id = 1", copy);
    await admin("DELETE FROM no_columns WHERE ctid = (SELECT min(ctid) FROM no_columns)", copy);
    expect(compareTables(dumped.tables, await databaseStats(server, copy, 2))).toEqual(["table no_columns: 1 rows, expected 2", "table tricky: content checksum differs"]);
  }, slow);

  it("backups with format 1 manifests are still recounted the SQL way", async () => {
    const sql = await databaseStats(server, source, 1);
    expect(sql.map((table) => [table.name, table.rows])).toEqual([
      ["empty_one", 0],
      ["no_columns", 2],
      ["schema_migrations", 1],
      ["tricky", 6],
    ]);
    // A different definition: a format 1 manifest is never compared with format 2 figures.
    expect(sql.find((table) => table.name === "tricky")?.checksum).not.toBe((await databaseStats(server, source, 2)).find((table) => table.name === "tricky")?.checksum);
  }, slow);

  it("an archive the stream reader cannot read falls back to the SQL statistics, however much follows it", async () => {
    // A large object is a block the reader does not know; 4 MiB of incompressible bytes follow that block,
    // more than the reader's copy of the stream holds: the dump must still run to its end.
    await admin("SELECT lo_from_bytea(0, (SELECT decode(string_agg(md5(random()::text) || md5(random()::text), ''), 'hex') FROM generate_series(1, 131072)))");
    const file = join(dir, "fallback.pgdump");
    const dumped = await dumpPostgres(db, urlFor(server, source), (dump) => sealFile(dump, file, { gzip: false, key: undefined }));
    expect(dumped.statsFormat).toBe(1);
    expect(dumped.statsFallback).toMatch(/large objects/);
    expect(dumped.stored.bytes).toBeGreaterThan(4 * 1024 * 1024);
    expect(dumped.tables).toEqual(await databaseStats(server, source, 1));
  }, slow);
});
