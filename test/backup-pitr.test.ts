import { chown, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { azoraBin, runCli } from "./helpers/cli.ts";
import { startOwnPostgres, type OwnPostgres } from "./helpers/own-postgres.ts";
import { makeDataDir } from "./helpers/platform.ts";
import { toolAvailability } from "./helpers/tools.ts";

const pgbackrest = toolAvailability("pgbackrest", "pgbackrest");
const slow = 600_000;

async function sql<Row>(url: string, text: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as Row[];
  } finally {
    await client.end();
  }
}

/**
 * Incremental backups and point-in-time recovery with pgBackRest, on a PostgreSQL cluster this test
 * starts itself (initdb as postgres in a temporary directory, on a free port). Azora runs as postgres,
 * as it must on a database server, because pgBackRest works on the server's own files.
 */
describe.runIf(pgbackrest.run)(`point-in-time recovery with pgBackRest ${pgbackrest.reason}`, () => {
  let cluster: OwnPostgres;
  let dataDir: string;
  let env: Record<string, string>;
  const azora = (args: string[]) => runCli(["-u", "postgres", "--", "env", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), azoraBin, ...args], {}, "runuser");

  beforeAll(async () => {
    cluster = await startOwnPostgres();
    await sql(cluster.url(), "CREATE DATABASE azora");
    dataDir = await makeDataDir();
    await chown(dataDir, Number(cluster.asPostgres("id", ["-u"]).trim()), Number(cluster.asPostgres("id", ["-g"]).trim()));
    env = { DATA_DIR: dataDir, DATABASE_URL: cluster.url("azora"), LOG_STDOUT: "false", HOME: "/tmp" };
    const migrated = await azora(["migrate"]);
    expect(migrated.code, migrated.stderr).toBe(0);
  }, slow);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("setup says what the server needs; full backup, insert A, time T, insert B, incremental → restore to T: A is there, B is not", async () => {
    const first = await azora(["backup", "setup"]);
    expect(first.code, first.stderr).toBe(1);
    const settings = first.stdout.split("\n").filter((line) => /^ {2}(wal_level|archive_mode|archive_command) = /.test(line)).map((line) => line.trim());
    // A fresh cluster already has wal_level = replica; archiving is off.
    expect(settings.map((line) => line.split(" ")[0])).toEqual(["archive_mode", "archive_command"]);
    // Apply exactly what it printed, as an operator would, and restart.
    await cluster.appendConf(settings);
    cluster.restart();
    const ready = await azora(["backup", "setup"]);
    expect(ready.code, ready.stderr + ready.stdout).toBe(0);
    expect(ready.stdout).toMatch(/Stanza azora is ready/);

    await sql(env.DATABASE_URL ?? "", "CREATE TABLE pitr_probe (label text PRIMARY KEY)");
    const full = await azora(["backup", "full"]);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toMatch(/pgBackRest full backup stored/);

    await sql(env.DATABASE_URL ?? "", "INSERT INTO pitr_probe VALUES ('A')");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const [{ t } = { t: "" }] = await sql<{ t: string }>(env.DATABASE_URL ?? "", "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS t");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await sql(env.DATABASE_URL ?? "", "INSERT INTO pitr_probe VALUES ('B')");
    const incremental = await azora(["backup", "incremental"]);
    expect(incremental.code, incremental.stderr).toBe(0);

    const restore = await azora(["restore", "latest", "--target-time", t, "--yes"]);
    expect(restore.code, restore.stderr + restore.stdout).toBe(0);
    expect(restore.stdout).toMatch(/Recovered to /);
    // The recovered database may be from before an erasure: the deletion ledger is replayed on it.
    expect(restore.stdout).toMatch(/Deletion ledger: \d+ erasures known/);
    const rows = await sql<{ label: string }>(env.DATABASE_URL ?? "", "SELECT label FROM pitr_probe ORDER BY label");
    expect(rows.map((row) => row.label)).toEqual(["A"]);
    // The recovered server takes writes again.
    await sql(env.DATABASE_URL ?? "", "INSERT INTO pitr_probe VALUES ('C')");
  }, slow);

  it("backup verify checks the pgBackRest repository too (pgbackrest verify) and names a damaged file in it", async () => {
    const repo = join(dataDir, "pgbackrest", "repo");
    const clean = await azora(["backup", "verify"]);
    expect(clean.code, clean.stderr + clean.stdout).toBe(0);
    expect(clean.stdout).toContain(`OK   pgbackrest  ${repo}`);

    // One flipped byte in a file of the full backup: pgBackRest's own checksum no longer matches.
    const files = (await readdir(join(repo, "backup", "azora"), { recursive: true })).map(String).filter((name) => /^\d{8}-\d{6}F\/pg_data\/.+\.gz$/.test(name));
    const sizes = await Promise.all(files.map(async (name) => ({ name, size: (await stat(join(repo, "backup", "azora", name))).size })));
    const victim = sizes.sort((a, b) => b.size - a.size)[0]?.name ?? "";
    const path = join(repo, "backup", "azora", victim);
    const bytes = await readFile(path);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    await writeFile(path, bytes);
    const damaged = await azora(["backup", "verify"]);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toContain(`BAD  pgbackrest  ${repo}`);
    expect(damaged.stderr).toContain(`${path}: `);
  }, slow);

  it("refuses a time that is not ISO 8601, with exit 2 and nothing changed", async () => {
    const bad = await azora(["restore", "latest", "--target-time", "yesterday", "--yes"]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/must be an ISO 8601 time/)]);
  }, slow);
});

describe("pgBackRest commands on the embedded default", () => {
  it("say plainly that only logical full backups exist there (exit 2, no stack trace)", async () => {
    const dataDir = await makeDataDir();
    for (const args of [["backup", "incremental"], ["restore", "latest", "--target-time", "2026-11-28T10:00:00Z", "--yes"]]) {
      const result = await runCli(args, { DATA_DIR: dataDir });
      expect([result.code, result.stderr]).toEqual([2, expect.stringMatching(/only logical full backups exist/)]);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
