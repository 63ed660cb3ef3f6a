import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { cliEnv, dropRestoreLeftovers, runScript, statsOf, withoutAuditLog } from "./helpers/backup.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

/** With S3_BUCKET set, database backups leave the machine, and a restore finds them in the bucket. */
describe.each(backends())("database backups in S3 ($name)", (backend) => {
  let s3: TestS3;
  let platform: TestPlatform;
  let env: Record<string, string>;
  const key = "s".repeat(40);
  const slow = 400_000;

  beforeAll(async () => {
    s3 = await startS3();
    platform = await startTestPlatform(backend, { ...s3.env, BACKUP_KEY: key });
    env = cliEnv(platform, { ...s3.env, BACKUP_KEY: key });
  }, slow);
  afterAll(async () => {
    await dropRestoreLeftovers(platform);
    await platform?.stop();
    await s3?.stop();
  });

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
    // The restore appends its own audit row to the restored chain.
    expect(withoutAuditLog(await statsOf(platform.running.context.db))).toEqual(withoutAuditLog(before));
    expect((await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } })).status).toBe(200);
  }, slow);
});
