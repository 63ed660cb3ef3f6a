import { execFileSync } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, metricValue } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { cliEnv, dropRestoreLeftovers, runScript, statsOf, withoutRestoreWrites } from "./helpers/backup.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";
import { restoreCommand } from "../src/ops/restore.ts";
import { dumpEmbedded } from "../src/ops/backup/pglite-engine.ts";
import type { EmbeddedDb } from "../src/platform/db/pglite.ts";

/** The guide's backup and restore procedure, end to end through its scripts, on each backend. */
describe.each(backends())("backup and restore ($name)", (backend) => {
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  let env: Record<string, string>;
  const key = "k".repeat(40);
  const slow = 400_000;

  beforeAll(async () => {
    // Backups are encrypted when a key is configured, as in production; the key belongs to the process that runs them.
    platform = await startTestPlatform(backend, { BACKUP_KEY: key });
    api = apiClient(platform.baseUrl);
    env = cliEnv(platform, { BACKUP_KEY: key });
  });
  afterAll(async () => {
    await dropRestoreLeftovers(platform);
    await platform.stop();
  });

  /** The live database as a plain .sql file, as a person would export it by hand: pg_dump, or PGlite's own dump. */
  const exportSql = async (file: string) => {
    if (platform.config.database.url) execFileSync("pg_dump", ["--no-owner", "--no-privileges", "-f", file, platform.config.database.url]);
    else await dumpEmbedded(platform.running.context.db as EmbeddedDb, file);
  };

  it("full backup → drop every table → database-restore.sh latest: every row back, old passwords and tokens work", async () => {
    const alice = await api.newUser("alice");
    const bob = await api.newUser("bob");
    for (const title of ["first", "second ☃", "third\nline"]) {
      expect((await api.call("POST", "/api/content", { token: alice.accessToken, json: { title, body: "x".repeat(50) } })).status).toBe(201);
    }
    const before = await statsOf(platform.running.context.db);

    const backup = await runScript("backup/database-backup.sh", ["full"], env);
    expect(backup.stderr).toMatch(/\[1\/3\] dumping/);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(new RegExp(`Full backup \\S+-full-\\S+ written: ${before.length} tables`));
    expect(backup.stdout).toMatch(/Location: .*backups/);

    await platform.running.context.db.exec("DROP TABLE content, refresh_tokens, signing_keys, users, schema_migrations CASCADE");
    expect((await api.call("POST", "/api/auth/login", { json: { email: bob.email, password: bob.password } })).status).not.toBe(200);

    const restore = await runScript("backup/database-restore.sh", ["latest", "--yes"], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/row counts and checksums equal to the manifest/);
    expect(withoutRestoreWrites(await statsOf(platform.running.context.db))).toEqual(withoutRestoreWrites(before));

    const login = await api.call("POST", "/api/auth/login", { json: { email: bob.email, password: bob.password } });
    expect(login.status).toBe(200);
    // Tokens signed before the backup still verify: the signing keys came back with it.
    expect((await api.get("/api/auth/me", alice.accessToken)).status).toBe(200);
    const listed = await api.get("/api/content", alice.accessToken);
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).toContain("second ☃");

    const integrity = await runScript("scripts/db-integrity-check.sh", [], env);
    expect(integrity.code, integrity.stderr).toBe(0);
  }, slow);

  it("publishes freshness metrics, verifies, and proves the backup with a drill", async () => {
    const verify = await runScript("scripts/backup-integrity-check.sh", [], env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^OK {3}\S+-full-/m);
    const drill = await runScript("scripts/test-backup-recovery.sh", [], env);
    expect(drill.code, drill.stderr).toBe(0);
    expect(drill.stdout).toMatch(/Drill passed: .* matches its manifest \(recovery [\d.]+ s\)/);

    const metrics = await (await fetch(new URL("/metrics", platform.opsUrl))).text();
    const now = Date.now() / 1000;
    expect(now - metricValue(metrics, "azora_backup_last_success_timestamp_seconds", { kind: "full" })).toBeLessThan(3600);
    expect(metricValue(metrics, "azora_backup_size_bytes", { kind: "full" })).toBeGreaterThan(0);
    expect(metrics).toMatch(/azora_backup_duration_seconds\{[^}]*kind="full"/);
    expect(now - metricValue(metrics, "azora_backup_drill_last_success_timestamp_seconds")).toBeLessThan(3600);

    const list = await runScript("backup/database-backup.sh", ["list", "--json"], env);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ kind: "full", engine: backend.name === "embedded" ? "pglite" : "postgres", encrypted: true })]);
  }, slow);

  it("restores a plain .sql file given as a path", async () => {
    const user = await api.newUser("sqlfile");
    const sqlFile = join(platform.dataDir, "export.sql");
    await exportSql(sqlFile);
    const before = await statsOf(platform.running.context.db);
    await platform.running.context.db.query("DELETE FROM users WHERE email = $1", [user.email]);

    const restore = await runScript("backup/database-restore.sh", [sqlFile, "--yes"], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`Restored SQL file ${sqlFile}`);
    expect(withoutRestoreWrites(await statsOf(platform.running.context.db))).toEqual(withoutRestoreWrites(before));
    expect((await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } })).status).toBe(200);
  }, slow);

  it("restores a plain .sql file whose strings, bodies and comments hold semicolons, across read pieces, statement by statement", async () => {
    const sqlFile = join(platform.dataDir, "tricky.sql");
    await exportSql(sqlFile);
    // Longer than one read piece (1 MiB), full of what ends a statement outside a string.
    const long = "x;'\"$$--/*\\n".repeat(150_000);
    const probe = [
      "CREATE TABLE public.restore_probe (id int PRIMARY KEY, note text);",
      // A statement that only looks like COPY … FROM stdin: the embedded default used to refuse the whole file for it.
      "INSERT INTO public.restore_probe VALUES (1, 'COPY x FROM stdin;'), (2, E'it\\'s; -- no comment'), (3, $q$ends; $$not here$$ /* nor */ $q$);",
      "CREATE FUNCTION public.restore_probe_fn() RETURNS text LANGUAGE plpgsql AS $fn$ BEGIN RETURN 'a;b'; END $fn$;",
      `INSERT INTO public.restore_probe VALUES (4, '${long.replaceAll("'", "''")}'); /* a comment; /* nested; */ still; */`,
      "INSERT INTO public.restore_probe VALUES (5, public.restore_probe_fn());",
    ].join("\n-- between; statements\n");
    // Before pg_dump's closing line, which a restore checks for.
    const whole = await readFile(sqlFile, "utf8");
    const closing = whole.lastIndexOf("--\n-- PostgreSQL database dump complete");
    expect(closing).toBeGreaterThan(0);
    await writeFile(sqlFile, `${whole.slice(0, closing)}${probe}\n\n${whole.slice(closing)}`);

    const restore = await runScript("backup/database-restore.sh", [sqlFile, "--yes"], env);
    expect(restore.code, restore.stderr).toBe(0);
    const { db } = platform.running.context;
    try {
      const rows = await db.query<{ id: number; note: string }>("SELECT id, note FROM restore_probe ORDER BY id");
      expect(rows.map((row) => [row.id, row.note.length > 100 ? row.note.length : row.note])).toEqual([
        [1, "COPY x FROM stdin;"],
        [2, "it's; -- no comment"],
        [3, "ends; $$not here$$ /* nor */ "],
        [4, long.length],
        [5, "a;b"],
      ]);
      expect(rows[3]?.note).toBe(long);
    } finally {
      await db.exec("DROP TABLE IF EXISTS restore_probe; DROP FUNCTION IF EXISTS restore_probe_fn()");
    }
  }, slow);

  // Embedded only: PostgreSQL loads COPY rows with psql (the plain pg_dump files above are full of them).
  it.runIf(backend.name === "embedded")("on the embedded default, refuses a .sql file that loads rows with COPY … FROM stdin, and changes nothing", async () => {
    const sqlFile = join(platform.dataDir, "copy.sql");
    await writeFile(sqlFile, "CREATE TABLE public.copied (id int);\n-- rows follow\nCOPY public.copied (id) FROM stdin;\n1\n\\.\n");
    const before = await statsOf(platform.running.context.db);
    const restore = await runScript("backup/database-restore.sh", [sqlFile, "--yes"], env);
    expect([restore.code, restore.stderr]).toEqual([1, expect.stringContaining(`${sqlFile} loads rows with COPY … FROM stdin, which the embedded database cannot read: make it with pg_dump --inserts`)]);
    expect(withoutRestoreWrites(await statsOf(platform.running.context.db))).toEqual(withoutRestoreWrites(before));
  }, slow);

  it("refuses a pg_dump .sql file cut off before its closing line, and changes nothing", async () => {
    const user = await api.newUser("cutoff");
    const sqlFile = join(platform.dataDir, "cut-off.sql");
    await exportSql(sqlFile);
    // Cut where the rows, keys and indexes are written and the foreign keys (pg_dump's last part) not yet:
    // valid SQL that loads and migrates, and a database that no longer ties content to its owner.
    const whole = await readFile(sqlFile, "utf8");
    const cut = whole.lastIndexOf("\nALTER TABLE ONLY ", whole.indexOf(" FOREIGN KEY "));
    expect(cut).toBeGreaterThan(0);
    await writeFile(sqlFile, whole.slice(0, cut + 1));
    const before = await statsOf(platform.running.context.db);

    const restore = await runScript("backup/database-restore.sh", [sqlFile, "--yes"], env);
    expect(restore.code).not.toBe(0);
    expect(restore.stderr).toContain(`${sqlFile} is incomplete: it starts as a pg_dump file but stops before pg_dump's closing line`);
    expect(withoutRestoreWrites(await statsOf(platform.running.context.db))).toEqual(withoutRestoreWrites(before));
    expect((await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } })).status).toBe(200);
  }, slow);

  it("an emergency backup is tagged, encrypted, kept, and says where it is; a restore without its key changes nothing", async () => {
    const emergency = await runScript("backup/database-backup.sh", ["emergency"], env);
    expect(emergency.code, emergency.stderr).toBe(0);
    expect(emergency.stdout).toMatch(/Emergency backup (\S+-emergency-\S+) written: .*, encrypted\./);
    expect(emergency.stdout).not.toMatch(/Retention removed/);
    const id = /Emergency backup (\S+)/.exec(emergency.stdout)?.[1] ?? "";
    const dir = join(platform.config.paths.backups, id);
    const [stored = ""] = (await readdir(dir)).filter((name) => name.endsWith(".enc"));
    expect((await readFile(join(dir, stored))).subarray(0, 24).toString()).toBe("AZORA-BACKUP-AES256GCM-1");
    expect(JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"))).toMatchObject({ kind: "emergency", keep: true, encryption: { algorithm: "aes-256-gcm", keySource: "BACKUP_KEY" } });

    const before = await statsOf(platform.running.context.db);
    const { context } = platform.running;
    for (const [backup, expected] of [
      [{ ...context.config.backup, key: "w".repeat(40) }, /encrypted with another key: set BACKUP_KEY/],
      [{ ...context.config.backup, key: undefined }, /is encrypted: set BACKUP_KEY/],
    ] as const) {
      const lines: string[] = [];
      const io = { out: (text: string) => lines.push(text), err: (text: string) => lines.push(text) };
      const code = await restoreCommand.run({ ...context, config: { ...context.config, masterKey: undefined, backup } }, { reference: id }, io);
      expect(code).toBe(1);
      expect(lines.join("\n")).toMatch(expected);
    }
    expect(withoutRestoreWrites(await statsOf(platform.running.context.db))).toEqual(withoutRestoreWrites(before));
    const drill = await runScript("scripts/test-backup-recovery.sh", [id], env);
    expect(drill.code, drill.stderr).toBe(0);
  }, slow);
});
