import { readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupFullCommand } from "../src/ops/backup.ts";
import { databaseOf } from "../src/ops/backup/postgres-engine.ts";
import { gdprDeleteCommand } from "../src/ops/gdpr.ts";
import { restoreCommand } from "../src/ops/restore.ts";
import { ledgerFilePath } from "../src/services/gdpr/deletion-ledger.ts";
import { createMaintenanceRepository } from "../src/services/gateway/maintenance.repository.ts";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { dropRestoreLeftovers, statsOf, withoutRestoreWrites } from "./helpers/backup.ts";
import { captureIO, tablesHolding } from "./helpers/gdpr.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";

/**
 * A restore checks the stored dump beside its load, recounts the copy beside its index builds, and loads
 * while the gateways take up maintenance mode (ADR 0520). Whatever finishes first, a damaged or failed copy
 * never serves, and an erasure that reached the live database before the gateways refused writes survives.
 */
describe.each(backends())("restore steps that overlap ($name)", (backend) => {
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  const context = () => platform.running.context;
  const slow = 400_000;

  beforeAll(async () => {
    // A long poll interval: the window between the flag and the gateways following it is wide and known.
    platform = await startTestPlatform(backend, { MAINTENANCE_POLL_MS: "2000" });
    api = apiClient(platform.baseUrl);
  }, slow);
  afterAll(async () => {
    await dropRestoreLeftovers(platform);
    await platform?.stop();
  });

  const backupDir = async () => {
    const io = captureIO();
    expect(await backupFullCommand.run(context(), { kind: "full", json: true }, io), io.errText()).toBe(0);
    return JSON.parse(io.outText()) as { id: string; path: string };
  };
  const dumpFileOf = async (path: string) => join(path, (await readdir(path)).find((name) => name.startsWith("database.")) ?? "");
  const scratchCopies = async () => {
    if (platform.config.database.url) return (await dropRestoreLeftovers(platform)).filter((name) => name.includes("_restore_"));
    return (await readdir(platform.dataDir)).filter((name) => /^pg\.restore-/.test(name));
  };
  /** Restores, expecting a refusal; the live database, its maintenance flag and its users must be as before. */
  const expectRefusedUnchanged = async (id: string) => {
    const user = await api.newUser("stays");
    const before = await statsOf(context().db);
    const io = captureIO();
    expect(await restoreCommand.run(context(), { reference: id }, io)).toBe(1);
    expect(withoutRestoreWrites(await statsOf(context().db))).toEqual(withoutRestoreWrites(before));
    expect((await createMaintenanceRepository(context().db).read()).enabled).toBe(false);
    expect((await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } })).status).toBe(200);
    expect(await scratchCopies()).toEqual([]);
    return io.errText();
  };

  it("a dump damaged where the loader trips over it: refused for the checksum, naming the file; nothing changed", async () => {
    const backup = await backupDir();
    const file = await dumpFileOf(backup.path);
    const bytes = await readFile(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    await writeFile(file, bytes);

    const err = await expectRefusedUnchanged(backup.id);
    // The load may have been stopped, or have failed on its own first: the damaged file is what explains it.
    expect(err).toMatch(/is damaged; nothing was changed/);
    expect(err).toContain(`${file}: SHA-256 differs from the manifest (damaged)`);
    expect(err).not.toMatch(/pg_restore failed|psql failed/);
  }, slow);

  it("an erasure that reaches the live database after maintenance is switched on, before the gateways follow, stays", async () => {
    const jane = await api.newUser("late-erasure");
    const backup = await backupDir();

    const restoreIO = captureIO();
    const restore = restoreCommand.run(context(), { reference: backup.id }, restoreIO);
    // The flag is written: the copy loads while the gateways take it up, one poll interval long.
    for (;;) {
      if ((await createMaintenanceRepository(context().db).read()).enabled) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // An erasure from a process elsewhere (its ledger file is not on this machine): the live database's
    // ledger is the only record the restore can carry it by.
    expect(await gdprDeleteCommand.run(context(), { email: jane.email, yes: true }, captureIO())).toBe(0);
    await rm(ledgerFilePath(context().config.paths.state), { force: true });

    expect(await restore, restoreIO.errText()).toBe(0);
    expect(restoreIO.outText()).toMatch(/1 accounts erased again/);
    expect(await tablesHolding(context().db, jane.email)).toEqual([]);
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(401);
  }, slow);

  // The stored dump is checked beside the load, and the recount runs beside the index builds, on PostgreSQL only:
  // the embedded default's backups are compressed SQL, checked before they are unpacked and loaded.
  if (backend.name === "embedded") return;

  const admin = async (sql: string, settings: string[] = []) => {
    const client = new pg.Client({ connectionString: platform.config.database.url });
    await client.connect();
    try {
      for (const setting of settings) await client.query(setting);
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  it("a dump damaged where pg_restore loads it without complaint: refused all the same, the copy never swapped in", async () => {
    const backup = await backupDir();
    const file = await dumpFileOf(backup.path);
    const bytes = await readFile(file);
    // The archive header names the database it was dumped from; pg_restore only ever prints it.
    const name = databaseOf(platform.config.database.url ?? "");
    const at = bytes.subarray(0, 1024).indexOf(name);
    expect(at).toBeGreaterThan(0);
    bytes[at] = (bytes[at] ?? 0) ^ 0x20;
    await writeFile(file, bytes);

    const err = await expectRefusedUnchanged(backup.id);
    expect(err).toContain(`${file}: SHA-256 differs from the manifest (damaged)`);
  }, slow);

  it("a dump whose checksum takes longer than its load: the finished copy is refused all the same, never swapped in", async () => {
    const backup = await backupDir();
    const file = await dumpFileOf(backup.path);
    // Gigabytes of zeros past the archive's end (a sparse file: no disk used): pg_restore stops at the archive's
    // last block, so the small load ends long before the SHA-256 has read the whole file, and the copy is
    // complete and sound when the mismatch is found. The manifest is given the new size, so only the checksum
    // can tell.
    const grown = (await stat(file)).size + 2 * 1024 ** 3;
    await truncate(file, grown);
    const manifestFile = join(backup.path, "manifest.json");
    const manifest = JSON.parse(await readFile(manifestFile, "utf8")) as { files: { name: string; bytes: number }[] };
    for (const entry of manifest.files) if (join(backup.path, entry.name) === file) entry.bytes = grown;
    await writeFile(manifestFile, JSON.stringify(manifest));

    try {
      const err = await expectRefusedUnchanged(backup.id);
      expect(err).toContain(`${file}: SHA-256 differs from the manifest (damaged)`);
      expect(err).not.toMatch(/pg_restore failed/);
    } finally {
      await rm(backup.path, { recursive: true, force: true });
    }
  }, slow);

  it("a damaged PostgreSQL dump restored into the embedded default: refused after PGlite loaded it, the copy removed", async () => {
    const backup = await backupDir();
    const file = await dumpFileOf(backup.path);
    const bytes = await readFile(file);
    // A header byte pg_restore only prints: the conversion to SQL and PGlite's load both go through.
    const at = bytes.subarray(0, 1024).indexOf(databaseOf(platform.config.database.url ?? ""));
    expect(at).toBeGreaterThan(0);
    bytes[at] = (bytes[at] ?? 0) ^ 0x20;
    await writeFile(file, bytes);

    const embedded = await startTestPlatform(backends().find((other) => other.name === "embedded")!);
    try {
      const io = captureIO();
      expect(await restoreCommand.run(embedded.running.context, { reference: backup.path }, io)).toBe(1);
      expect(io.errText()).toContain(`${file}: SHA-256 differs from the manifest (damaged)`);
      expect((await readdir(embedded.dataDir)).filter((name) => /^pg\.restore-/.test(name))).toEqual([]);
    } finally {
      await embedded.stop();
    }
  }, slow);

  it("indexes or constraints that fail after the rows loaded: refused with pg_restore's error, the copy discarded", async () => {
    // An index whose expression needs a setting that lives outside the dump: the rows load, the index build fails.
    await admin("CREATE TABLE restore_probe (n int); INSERT INTO restore_probe VALUES (1), (2)");
    await admin("CREATE FUNCTION restore_probe_key(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x + current_setting('azora.probe')::int $$");
    await admin("CREATE INDEX restore_probe_by_key ON restore_probe (restore_probe_key(n))", ["SET azora.probe = '1'"]);
    let id: string;
    try {
      id = (await backupDir()).id;
    } finally {
      await admin("DROP TABLE restore_probe; DROP FUNCTION restore_probe_key(int)");
    }

    const err = await expectRefusedUnchanged(id);
    expect(err).toMatch(/pg_restore failed/);
    expect(err).toContain("azora.probe");
  }, slow);
});

/**
 * The copy loads while the gateways take up maintenance mode, so the restore must wait for them before it reads
 * the live deletion ledger: with a poll interval (the longest allowed) longer than the load, a restore that did not wait would
 * read the ledger (and swap) while the gateways still accept writes, erasures among them.
 */
describe.each(backends())("a load shorter than the gateways' poll interval ($name)", (backend) => {
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  const slow = 400_000;

  beforeAll(async () => {
    platform = await startTestPlatform(backend, { MAINTENANCE_POLL_MS: "5000" });
    api = apiClient(platform.baseUrl);
  }, slow);
  afterAll(async () => {
    if (platform) await dropRestoreLeftovers(platform);
    await platform?.stop();
  });

  it("the gateways refuse writes by the time the live deletion ledger has been read", async () => {
    const context = platform.running.context;
    const owner = await api.newUser("poll-wait");
    const io = captureIO();
    expect(await backupFullCommand.run(context, { kind: "full", json: true }, io), io.errText()).toBe(0);
    const { id } = JSON.parse(io.outText()) as { id: string };

    // A public write sent the moment the replay starts, i.e. just after the live ledger was read.
    let writeAtReplay: Promise<{ status: number }> | undefined;
    const restoreIO = {
      ...captureIO(),
      progress: ({ label }: { label: string }) => {
        if (label.startsWith("replaying the GDPR deletion ledger")) writeAtReplay ??= api.call("POST", "/api/content", { token: owner.accessToken, json: { title: "at the replay" } });
      },
    };
    expect(await restoreCommand.run(context, { reference: id }, restoreIO), restoreIO.errText()).toBe(0);
    expect(writeAtReplay).toBeDefined();
    expect((await writeAtReplay)?.status).toBe(503);
  }, slow);
});
