import { execFileSync } from "node:child_process";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./helpers/child-platform.ts";
import { repoRoot } from "./helpers/cli.ts";
import { azora } from "./helpers/in-process-cli.ts";
import { startOwnPostgres, type OwnPostgres } from "./helpers/own-postgres.ts";
import { makeDataDir } from "./helpers/platform.ts";
import { toolAvailability } from "./helpers/tools.ts";

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A workload with known problems: a filter without an index on a large table, a duplicate and unused index, an FK without one, dead rows. */
async function generateWorkload(client: pg.Client) {
  await client.query(`CREATE TABLE workload_items (id bigserial PRIMARY KEY, owner int NOT NULL, label text NOT NULL)`);
  await client.query(`INSERT INTO workload_items (owner, label) SELECT g % 500, 'item ' || g FROM generate_series(1, 50000) g`);
  await client.query(`CREATE INDEX workload_items_label_a ON workload_items (label)`);
  await client.query(`CREATE INDEX workload_items_label_b ON workload_items (label)`);
  await client.query(`CREATE TABLE workload_children (id serial PRIMARY KEY, item_id bigint NOT NULL REFERENCES workload_items (id))`);
  await client.query(`INSERT INTO workload_children (item_id) SELECT g FROM generate_series(1, 1000) g`);
  await client.query(`ANALYZE`);
  for (let owner = 0; owner < 30; owner++) await client.query(`SELECT count(*) FROM workload_items WHERE owner = $1`, [owner]);
  await client.query(`DELETE FROM workload_items WHERE id > 40000`);
}

// pg_stat_statements must be in shared_preload_libraries: the suite starts a cluster of its own for it,
// and never reconfigures the shared server.
const initdb = toolAvailability("runuser", "util-linux");
describe.runIf(initdb.run)(`azora db analyze-queries and optimize on PostgreSQL ${initdb.reason}`, () => {
  let cluster: OwnPostgres;
  let env: Record<string, string>;
  let dataDir: string;
  beforeAll(async () => {
    cluster = await startOwnPostgres();
    await cluster.appendConf(["shared_preload_libraries = 'pg_stat_statements'"]);
    cluster.restart();
    dataDir = await makeDataDir();
    await withClient(cluster.url(), async (client) => {
      await client.query(`CREATE DATABASE azora`);
      await client.query(`CREATE DATABASE azora_plain`);
    });
    env = { DATA_DIR: dataDir, DATABASE_URL: cluster.url("azora") };
    expect((await azora(["migrate"], env)).code).toBe(0);
    await withClient(cluster.url("azora"), async (client) => {
      await client.query(`CREATE EXTENSION pg_stat_statements`);
      await generateWorkload(client);
    });
  }, 300_000);
  afterAll(async () => {
    await cluster?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("lists the top statements with calls, mean and rows, and hints at the sequential scan and the missing index", async () => {
    const result = await azora(["db", "analyze-queries", "--top", "20", "--json"], env);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.available).toBe(true);
    const statement = report.statements.find((entry: { query: string }) => /FROM workload_items WHERE owner = \$1/.test(entry.query));
    expect(statement).toMatchObject({ calls: 30, rows: 30 });
    expect(statement.meanMs).toBeGreaterThan(0);
    expect(statement.hint).toMatch(/sequential scan on workload_items \(~\d[\d,]* rows\): no index serves the filter on owner; consider CREATE INDEX CONCURRENTLY ON workload_items \(owner\)/);
    const text = await azora(["db", "analyze-queries"], env);
    expect(text.stdout).toMatch(/ms total, \d+ calls, [\d.]+ ms mean, \d+ rows/);
  });

  it("says how to create the extension where it is loaded but not created", async () => {
    const plainEnv = { DATA_DIR: dataDir, DATABASE_URL: cluster.url("azora_plain") };
    expect((await azora(["migrate"], plainEnv)).code).toBe(0);
    const result = await azora(["db", "analyze-queries"], plainEnv);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("CREATE EXTENSION pg_stat_statements");
  });

  it("optimize --dry-run reports bloat, unused and duplicate indexes and the foreign key without an index, and changes nothing", async () => {
    // Table statistics reach pg_stat_user_tables within a second of the transaction.
    let report: any;
    await eventually(async () => {
      report = JSON.parse((await azora(["db", "optimize", "--dry-run", "--json"], env)).stdout);
      return report.findings.bloat.some((table: { table: string }) => table.table === "workload_items");
    }, 20_000);
    expect(report.dryRun).toBe(true);
    expect(report.findings.bloat.find((table: { table: string }) => table.table === "workload_items")).toMatchObject({ deadRows: 10000 });
    expect(report.findings.duplicateIndexes).toContainEqual(expect.objectContaining({ table: "workload_items", index: "workload_items_label_b", detail: "duplicate of workload_items_label_a: keep one" }));
    expect(report.findings.unusedIndexes.map((index: { index: string }) => index.index)).toEqual(expect.arrayContaining(["workload_items_label_a", "workload_items_label_b"]));
    expect(report.findings.missingForeignKeyIndexes).toContainEqual(
      expect.objectContaining({ table: "workload_children", columns: ["item_id"], suggestion: 'CREATE INDEX CONCURRENTLY ON "workload_children" ("item_id")' }),
    );
    // The platform's own foreign keys are all indexed.
    expect(report.findings.missingForeignKeyIndexes.map((key: { table: string }) => key.table)).toEqual(["workload_children"]);
    expect(report.actions).toEqual([{ action: "VACUUM (ANALYZE)", status: "planned" }]);
  });

  it("defaults to a dry run on production; --apply vacuums and rebuilds an invalid index concurrently", async () => {
    const production = { ...env, AZORA_ENV: "production" };
    const dry = await azora(["db", "optimize"], production);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("the default on production");
    await withClient(cluster.url("azora"), (client) => client.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'workload_items_label_b'::regclass`));
    const applied = await azora(["db", "optimize", "--apply", "--json"], production);
    expect(applied.code, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout).actions).toEqual([
      { action: "VACUUM (ANALYZE)", status: "done" },
      { action: "REINDEX INDEX CONCURRENTLY workload_items_label_b", status: "done" },
    ]);
    const valid = await withClient(cluster.url("azora"), (client) => client.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'workload_items_label_b'::regclass`));
    expect(valid.rows[0].indisvalid).toBe(true);
    expect(
      await eventually(async () => {
        const after = JSON.parse((await azora(["db", "optimize", "--dry-run", "--json"], env)).stdout);
        return !after.findings.bloat.some((table: { table: string }) => table.table === "workload_items");
      }, 20_000),
    ).toBe(true);
  });
});

describe("azora db analyze-queries and optimize on the embedded database", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await makeDataDir();
    expect((await azora(["migrate"], { DATA_DIR: dataDir })).code).toBe(0);
  }, 300_000);
  afterAll(async () => rm(dataDir, { recursive: true, force: true }));

  it("says what PGlite can and cannot report", async () => {
    // A fresh database's tables are all about the same size: ask for more than there are, so users is among them.
    const result = await azora(["db", "analyze-queries", "--json", "--top", "100"], { DATA_DIR: dataDir });
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ backend: "pglite", available: false, statements: [] });
    expect(report.note).toContain("cannot report statement timings");
    expect(report.tables.map((table: { table: string }) => table.table)).toContain("users");
    const sizes = report.tables.map((table: { bytes: number }) => table.bytes);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
  });

  it("optimize vacuums and reports; REINDEX CONCURRENTLY is PostgreSQL's", async () => {
    const result = await azora(["db", "optimize", "--json"], { DATA_DIR: dataDir });
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ backend: "pglite", dryRun: false, actions: [{ action: "VACUUM (ANALYZE)", status: "done" }] });
    expect(report.findings.missingForeignKeyIndexes).toEqual([]);
    // A run that changes the database is in the audit log with what it did; a dry run writes no row.
    const dry = await azora(["db", "optimize", "--dry-run"], { DATA_DIR: dataDir });
    expect(dry.code, dry.stderr).toBe(0);
    const rows = (JSON.parse((await azora(["audit", "tail", "-n", "20", "--json"], { DATA_DIR: dataDir })).stdout) as { action: string; target: string; details: { actions: unknown[] } }[]).filter((row) => row.action === "db.optimize");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ target: "database", details: { actions: [{ action: "VACUUM (ANALYZE)", status: "done" }] } });
  });

  it("bad input exits 2 with a message; the wrappers answer --help", async () => {
    const top = await azora(["db", "analyze-queries", "--top", "0"], { DATA_DIR: dataDir });
    expect(top.code).toBe(2);
    expect(top.stderr).toContain("--top takes a whole number");
    const both = await azora(["db", "optimize", "--dry-run", "--apply"], { DATA_DIR: dataDir });
    expect(both.code).toBe(2);
    for (const [script, option] of [["analyze-queries.sh", "--top"], ["db-optimize.sh", "--apply"]] as const) {
      expect(execFileSync(join(repoRoot, "scripts", script), ["--help"], { encoding: "utf8" })).toContain(option);
    }
  });
});
