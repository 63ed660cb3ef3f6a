import { createHash, randomUUID } from "node:crypto";
import { cp, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { cliEnv, dropRestoreLeftovers, runScript, statsOf, withoutRestoreWrites } from "./helpers/backup.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";

const slow = 400_000;

/** Damaged backups, failed restores, bad arguments and write load: the live database must never suffer. */
describe.each(backends())("backup integrity ($name)", (backend) => {
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  let env: Record<string, string>;

  beforeAll(async () => {
    platform = await startTestPlatform(backend);
    api = apiClient(platform.baseUrl);
    env = cliEnv(platform);
  });
  afterAll(async () => {
    await dropRestoreLeftovers(platform);
    await platform.stop();
  });

  const takeBackup = async () => {
    const result = await runScript("backup/database-backup.sh", ["full", "--json"], env);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as { id: string; path: string };
  };
  const dumpFileOf = async (path: string) => join(path, (await readdir(path)).find((name) => name.startsWith("database.")) ?? "");
  /** Rewrites a backup's dump and its manifest entry, as a bug or an attacker who also fixed the checksum would. */
  const replaceDump = async (path: string, bytes: Buffer) => {
    const file = await dumpFileOf(path);
    await writeFile(file, bytes);
    const manifest = JSON.parse(await readFile(join(path, "manifest.json"), "utf8"));
    manifest.files[0].bytes = bytes.length;
    manifest.files[0].sha256 = createHash("sha256").update(bytes).digest("hex");
    await writeFile(join(path, "manifest.json"), JSON.stringify(manifest));
  };
  const leftovers = async () => {
    if (platform.config.database.url) return dropRestoreLeftovers(platform).then((names) => names.filter((name) => name.includes("_restore_") || name.includes("_drill_")));
    return (await readdir(platform.dataDir)).filter((name) => /^pg\.(restore|drill)-/.test(name));
  };

  it("one flipped byte: backup-integrity-check.sh names the file, the drill fails, restore refuses and changes nothing", async () => {
    const user = await api.newUser("flip");
    const backup = await takeBackup();
    const file = await dumpFileOf(backup.path);
    const bytes = await readFile(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
    const before = await statsOf(platform.running.context.db);

    const verify = await runScript("scripts/backup-integrity-check.sh", [], env);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain(`${file}: SHA-256 differs from the manifest`);
    const drill = await runScript("scripts/test-backup-recovery.sh", [backup.id], env);
    expect(drill.code).toBe(1);
    expect(drill.stderr).toMatch(/Drill FAILED/);
    const restore = await runScript("backup/database-restore.sh", [backup.id, "--yes"], env);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toMatch(/is damaged; nothing was changed/);
    expect(withoutRestoreWrites(await statsOf(platform.running.context.db))).toEqual(withoutRestoreWrites(before));
    expect((await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } })).status).toBe(200);
  }, slow);

  it("a restored copy whose recount differs from the manifest is refused by the restore and the drill, nothing changed", async () => {
    const backup = await takeBackup();
    const manifest = JSON.parse(await readFile(join(backup.path, "manifest.json"), "utf8")) as { format: number; tables: { name: string; rows: number; checksum: string }[] };
    // PostgreSQL backups carry COPY-text checksums read from pg_dump's stream (ADR 0460), embedded ones SQL ones.
    expect(manifest.format).toBe(platform.config.database.url ? 2 : 1);
    // The dump is intact (its SHA-256 still matches); only the figures it is recounted against differ.
    const users = manifest.tables.find((table) => table.name === "users");
    const migrations = manifest.tables.find((table) => table.name === "schema_migrations");
    if (!users || !migrations) throw new Error("the manifest lists no users or schema_migrations table");
    users.rows += 1;
    migrations.checksum = migrations.checksum.replace(/.$/, (digit) => (digit === "0" ? "1" : "0"));
    await writeFile(join(backup.path, "manifest.json"), JSON.stringify(manifest));
    const before = await statsOf(platform.running.context.db);

    const restore = await runScript("backup/database-restore.sh", [backup.id, "--yes"], env);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toMatch(/does not match the backup's manifest/);
    expect(restore.stderr).toContain(`table users: ${users.rows - 1} rows, expected ${users.rows}`);
    expect(restore.stderr).toContain("table schema_migrations: content checksum differs");
    const drill = await runScript("scripts/test-backup-recovery.sh", [backup.id], env);
    expect(drill.code).toBe(1);
    expect(drill.stderr).toMatch(/Drill FAILED/);
    expect(withoutRestoreWrites(await statsOf(platform.running.context.db))).toEqual(withoutRestoreWrites(before));
    expect(await leftovers()).toEqual([]);
  }, slow);

  it("a restore that breaks off halfway through the archive leaves the previous database serving, and no copy behind", async () => {
    const backup = await takeBackup();
    const file = await dumpFileOf(backup.path);
    const original = await readFile(file);
    // Cut the dump in the middle of its data: the checksums match, loading fails partway.
    const cut = file.endsWith(".gz") ? gzipSync(gunzipSync(original).subarray(0, Math.floor(gunzipSync(original).length * 0.7))) : original.subarray(0, Math.floor(original.length * 0.7));
    await replaceDump(backup.path, cut);
    const user = await api.newUser("after-backup");
    const before = await statsOf(platform.running.context.db);

    const restore = await runScript("backup/database-restore.sh", [backup.id, "--yes"], env);
    expect(restore.code, `${restore.stdout}${restore.stderr}`).toBe(1);
    expect(withoutRestoreWrites(await statsOf(platform.running.context.db))).toEqual(withoutRestoreWrites(before));
    expect((await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } })).status).toBe(200);
    expect(await leftovers()).toEqual([]);
  }, slow);

  it("a backup taken under write load restores a consistent state (no content without its owner)", async () => {
    let writing = true;
    let writes = 0;
    const writer = async () => {
      while (writing) {
        const user = await api.newUser("load");
        await api.call("POST", "/api/content", { token: user.accessToken, json: { title: `by ${user.id}` } });
        writes++;
      }
    };
    const writers = [writer(), writer()];
    while (writes < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    const backup = await takeBackup();
    writing = false;
    await Promise.all(writers);

    const restore = await runScript("backup/database-restore.sh", [backup.id, "--yes"], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/row counts and checksums equal to the manifest/);
    const integrity = await runScript("scripts/db-integrity-check.sh", [], env);
    expect(integrity.code, integrity.stderr).toBe(0);
    const [orphans] = await platform.running.context.db.query<{ n: string }>("SELECT count(*)::text AS n FROM content c WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.owner_id)");
    expect(orphans?.n).toBe("0");
  }, slow);

  it("bad arguments: a clear message, a non-zero exit, nothing changed", async () => {
    const backup = await takeBackup();
    const before = await statsOf(platform.running.context.db);
    const unknown = await runScript("backup/database-restore.sh", ["20200101T000000Z-full-abcdef", "--yes"], env);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringMatching(/no backup with the id 20200101T000000Z-full-abcdef/)]);
    const missing = await runScript("backup/database-restore.sh", ["/nonexistent/backup.sql", "--yes"], env);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/\/nonexistent\/backup.sql does not exist/)]);
    const unconfirmed = await runScript("backup/database-restore.sh", ["latest"], env);
    expect([unconfirmed.code, unconfirmed.stderr]).toEqual([2, expect.stringMatching(/add --yes to confirm/)]);
    const dryRun = await runScript("backup/database-restore.sh", ["latest", "--dry-run"], env);
    expect([dryRun.code, dryRun.stdout]).toEqual([0, expect.stringMatching(/Dry run: would restore backup .* Nothing was changed/)]);

    const future = join(platform.config.paths.backups, `${backup.id.replace(/-[0-9a-f]+$/, "-f0f0f0")}`);
    await cp(backup.path, future, { recursive: true });
    const manifest = JSON.parse(await readFile(join(future, "manifest.json"), "utf8"));
    await writeFile(join(future, "manifest.json"), JSON.stringify({ ...manifest, id: manifest.id.replace(/-[0-9a-f]+$/, "-f0f0f0"), schemaVersion: "99991231000000_from_the_future" }));
    const newer = await runScript("backup/database-restore.sh", [future, "--yes"], env);
    expect([newer.code, newer.stderr]).toEqual([1, expect.stringMatching(/schema 99991231000000_from_the_future, newer than this Azora OS knows/)]);

    const garbage = join(platform.dataDir, "not-a-backup.sql");
    await writeFile(garbage, "this is not SQL at all;\n");
    const broken = await runScript("backup/database-restore.sh", [garbage, "--yes"], env);
    expect(broken.code).toBe(1);
    expect(withoutRestoreWrites(await statsOf(platform.running.context.db))).toEqual(withoutRestoreWrites(before));
    expect(broken.stderr + broken.stdout).not.toMatch(/\n\s+at .*\.ts:\d+/);

    if (!platform.config.database.url) {
      const incremental = await runScript("backup/database-backup.sh", ["incremental"], env);
      expect([incremental.code, incremental.stderr]).toEqual([2, expect.stringMatching(/only logical full backups exist/)]);
    }
  }, slow);

  it("db-integrity-check.sh lists orphaned rows and exits 1; clean again once they are gone", async () => {
    const orphanId = randomUUID();
    // Triggers off (as a careless bulk load would have them) lets a row in that its foreign key forbids.
    await platform.running.context.db.transaction(async (tx) => {
      await tx.query("SET LOCAL session_replication_role = replica");
      await tx.query("INSERT INTO content (id, owner_id, title) VALUES ($1, $2, 'orphan')", [orphanId, randomUUID()]);
    });
    const found = await runScript("scripts/db-integrity-check.sh", ["--json"], env);
    expect(found.code).toBe(1);
    expect(JSON.parse(found.stdout)).toMatchObject({ ok: false, problems: [{ check: "orphans", object: "content.content_owner_id_fkey", detail: expect.stringMatching(/^1 row\(s\) of content/) }] });
    await platform.running.context.db.query("DELETE FROM content WHERE id = $1", [orphanId]);
    const clean = await runScript("scripts/db-integrity-check.sh", [], env);
    expect(clean.code, clean.stderr).toBe(0);
  }, slow);
});
