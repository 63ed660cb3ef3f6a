import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { runScript, startPlatformWithS3, statsOf, withoutRestoreWrites, type PlatformWithS3 } from "./helpers/backup.ts";
import { runCli } from "./helpers/cli.ts";
import type { TestPlatform } from "./helpers/platform.ts";
import type { TestS3 } from "./helpers/s3.ts";

/** With S3_BUCKET set, database backups leave the machine, and a restore finds them in the bucket. */
describe.each(backends())("database backups in S3 ($name)", (backend) => {
  let installation: PlatformWithS3 | undefined;
  let s3: TestS3;
  let platform: TestPlatform;
  let env: Record<string, string>;
  const key = "s".repeat(40);
  const slow = 400_000;
  // Retention keeps the newest backup of today only (and emergency ones): each full backup expires the one before.
  const retention = { BACKUP_KEEP_DAILY: "1", BACKUP_KEEP_HOURLY: "0" };

  beforeAll(async () => {
    installation = await startPlatformWithS3(backend, { BACKUP_KEY: key, ...retention });
    ({ s3, platform, env } = installation);
  }, slow);
  afterAll(() => installation?.stop());

  it("a backup to S3 restores from S3 after the local copies are gone", async () => {
    const api = apiClient(platform.baseUrl);
    const user = await api.newUser("bucket");
    const backup = await runScript("backup/database-backup.sh", ["full", "--json"], env);
    expect(backup.code, backup.stderr).toBe(0);
    const { id, remote } = JSON.parse(backup.stdout) as { id: string; remote: string };
    expect(remote).toBe(`s3://${s3.bucket}/backups/database/${id}/`);
    // s3rver keeps objects as files: the manifest and the encrypted dump are in the bucket.
    const stored = (await readdir(join(s3.directory, s3.bucket), { recursive: true })).map(String);
    expect(stored.some((name) => name.includes(`${id}/manifest.json`))).toBe(true);
    expect(stored.some((name) => name.includes(`${id}/database.`) && name.includes(".enc"))).toBe(true);

    const before = await statsOf(platform.running.context.db);
    // The machine's disk is lost: no local backup is left, and the account is gone from the database.
    await rm(platform.config.paths.backups, { recursive: true, force: true });
    await platform.running.context.db.query("DELETE FROM users WHERE email = $1", [user.email]);

    const restore = await runScript("backup/database-restore.sh", ["latest", "--yes"], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`Fetched backup ${id} from s3://${s3.bucket}/backups/database/${id}/`);
    expect(restore.stdout).toMatch(/row counts and checksums equal to the manifest/);
    // The restore appends its own audit row to the restored chain, and the invalidations of the profiles it changed.
    expect(withoutRestoreWrites(await statsOf(platform.running.context.db))).toEqual(withoutRestoreWrites(before));
    expect((await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } })).status).toBe(200);

    // With --json, stdout is exactly the one JSON document; saying where the backup came from goes to stderr.
    await rm(platform.config.paths.backups, { recursive: true, force: true });
    const dry = await runScript("backup/database-restore.sh", ["latest", "--dry-run", "--json"], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual({ dryRun: true, source: id, changed: false });
    await rm(platform.config.paths.backups, { recursive: true, force: true });
    const scripted = await runScript("backup/database-restore.sh", ["latest", "--yes", "--json"], env);
    expect(scripted.code, scripted.stderr).toBe(0);
    expect(JSON.parse(scripted.stdout)).toMatchObject({ restored: id });
    expect(scripted.stderr).toContain(`Fetched backup ${id} from s3://${s3.bucket}/backups/database/${id}/`);
  }, slow);

  it("list shows the bucket's copies, verify downloads and checks them naming a damaged object, retention prunes the bucket too", async () => {
    type Listed = { id: string; path?: string; remote?: string };
    const list = async () => {
      const listed = await runCli(["backup", "list", "--json"], env);
      expect(listed.code, listed.stderr).toBe(0);
      return JSON.parse(listed.stdout) as Listed[];
    };
    const take = async (kind: "full" | "emergency") => {
      const taken = await runScript("backup/database-backup.sh", [kind, "--json"], env);
      expect(taken.code, taken.stderr).toBe(0);
      return JSON.parse(taken.stdout) as { id: string; path: string; remote: string; expired: string[]; expiredRemote: string[] };
    };
    const emergency = await take("emergency");
    const first = await take("full");
    // Only in the bucket once the local copy is gone: still listed, and still verified.
    await rm(first.path, { recursive: true, force: true });
    const listed = await list();
    expect(listed.find((backup) => backup.id === first.id)).toEqual(expect.objectContaining({ remote: first.remote }));
    expect(listed.find((backup) => backup.id === first.id)?.path).toBeUndefined();
    expect(listed.find((backup) => backup.id === emergency.id)).toEqual(expect.objectContaining({ path: emergency.path, remote: emergency.remote }));
    const text = await runCli(["backup", "list"], env);
    expect(text.stdout).toMatch(new RegExp(`^${first.id} .* s3 only`, "m"));

    const verified = await runScript("scripts/backup-integrity-check.sh", [], env);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`OK   ${first.id}  ${first.remote}`);
    expect(verified.stdout).toContain(`OK   ${emergency.id}  ${emergency.remote}`);

    // One flipped byte in the bucket's copy of the dump: verify downloads it and names the object.
    const objects = (await readdir(join(s3.directory, s3.bucket), { recursive: true })).map(String);
    const stored = objects.find((name) => name.includes(`${first.id}/database.`) && name.endsWith("._S3rver_object"));
    expect(stored).toBeDefined();
    const objectFile = join(s3.directory, s3.bucket, stored ?? "");
    const bytes = await readFile(objectFile);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    await writeFile(objectFile, bytes);
    const damaged = await runScript("scripts/backup-integrity-check.sh", [], env);
    expect(damaged.code).toBe(1);
    const dumpName = (stored ?? "").replace(/^.*\//, "").replace(/\._S3rver_object$/, "");
    expect(damaged.stderr).toContain(`${first.remote}${dumpName}: SHA-256 differs from the manifest`);
    // The emergency backup was verified too, and is fine.
    expect(damaged.stdout).toContain(`OK   ${emergency.id}  ${emergency.remote}`);

    // The next full backup expires the first in the bucket as it does on disk; the emergency backup stays.
    const second = await take("full");
    expect(second.expiredRemote).toContain(first.id);
    expect(second.expiredRemote).not.toContain(emergency.id);
    const after = await list();
    expect(after.map((backup) => backup.id)).not.toContain(first.id);
    expect(after.map((backup) => backup.id)).toEqual(expect.arrayContaining([second.id, emergency.id]));
    expect((await readdir(join(s3.directory, s3.bucket), { recursive: true })).map(String).filter((name) => name.includes(first.id) && name.endsWith("._S3rver_object"))).toEqual([]);
    const clean = await runScript("scripts/backup-integrity-check.sh", [], env);
    expect(clean.code, clean.stderr).toBe(0);
  }, slow);
});
