import { randomBytes } from "node:crypto";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { downloadFile, uploadFile } from "./helpers/attachments.ts";
import { backends } from "./helpers/backends.ts";
import { dropRestoreLeftovers, runScript, statsOf, withoutRestoreWrites } from "./helpers/backup.ts";
import { makeDataDir, startTestPlatform, testConfig, type TestPlatform } from "./helpers/platform.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";
import { platformCommands } from "../src/ops/commands.ts";
import { startPlatform } from "../src/runtime.ts";

const postgres = backends().find((backend) => backend.name === "postgres+redis");
const masterKey = "w".repeat(48);
const slow = 900_000;

/** Blob objects (attachments) s3rver holds for a bucket, by their sha256 names. */
async function bucketBlobs(s3: TestS3): Promise<string[]> {
  // s3rver keeps an object as a file and its metadata beside it: one name per object.
  const names = (await readdir(join(s3.directory, s3.bucket), { recursive: true }).catch(() => [] as string[])).map(String);
  return [...new Set(names.map((name) => /^blobs\/([0-9a-f]{64})/.exec(name)?.[1]).filter((key): key is string => key !== undefined))];
}

/**
 * docs/operations.md "Moving to PostgreSQL" (and back): azora backup full on one side,
 * azora restore on the other, in both directions, with the attachments moving between local files and S3.
 */
describe.runIf(postgres)("moving between the embedded default and PostgreSQL, attachments included", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  async function seed(platform: TestPlatform) {
    const api = apiClient(platform.baseUrl);
    const jane = await api.newUser("mover");
    const content = (await api.call("POST", "/api/content", { token: jane.accessToken, json: { title: "moved with files ✓" } })).body;
    const bytes = Buffer.concat([Buffer.from("attachment that moves "), randomBytes(64)]);
    const attachment = (await uploadFile(platform.baseUrl, jane.accessToken, content.id, { bytes, filename: "moving.bin" })).body;
    expect(attachment.id).toBeTruthy();
    return { jane, bytes, path: `/api/content/${content.id}/attachments/${attachment.id}` };
  }

  async function startMoved(env: Record<string, string>) {
    const running = await startPlatform(testConfig(env), { roles: ["gateway", "auth", "users"], commands: platformCommands });
    cleanup.push(async () => {
      await running.stop();
      await dropRestoreLeftovers({ config: running.context.config } as TestPlatform);
    });
    return running;
  }

  it("a PostgreSQL backup with files in S3 restores into the embedded default with local files", async () => {
    const s3 = await startS3("azora-from-pg");
    cleanup.push(() => s3.stop());
    const source = await startTestPlatform(postgres!, { ...s3.env, AZORA_MASTER_KEY: masterKey });
    cleanup.push(async () => {
      await dropRestoreLeftovers(source);
      await source.stop();
    });
    const { jane, bytes, path } = await seed(source);
    expect(await bucketBlobs(s3)).toHaveLength(1);
    const backup = await runScript("backup/database-backup.sh", ["full", "--json"], { DATA_DIR: source.dataDir, DATABASE_URL: source.config.database.url ?? "", ...s3.env });
    expect(backup.code, backup.stderr).toBe(0);
    const backupPath = (JSON.parse(backup.stdout) as { path: string }).path;
    const before = await statsOf(source.running.context.db);

    // A new machine on the embedded default: no DATABASE_URL, no S3_BUCKET; the files come from the bucket named here.
    const env = { DATA_DIR: await makeDataDir(), AZORA_MASTER_KEY: masterKey, S3_ACCESS_KEY_ID: "S3RVER", S3_SECRET_ACCESS_KEY: "S3RVER" };
    cleanup.push(() => rm(env.DATA_DIR, { recursive: true, force: true }));
    const restore = await runScript("backup/database-restore.sh", [backupPath, "--yes", "--blobs-from", `${s3.endpoint}/${s3.bucket}/blobs/`], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/row counts and checksums equal to the manifest/);
    expect(restore.stdout).toContain("Attachment files: 1 named by the restored database, 1 copied into the local blob store");

    const moved = await startMoved(env);
    expect(withoutRestoreWrites(await statsOf(moved.context.db))).toEqual(withoutRestoreWrites(before));
    const gateway = moved.urls.gateway ?? "";
    const api = apiClient(gateway);
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(200);
    const download = await downloadFile(gateway, jane.accessToken, path);
    expect(download.status).toBe(200);
    expect(download.bytes.equals(bytes)).toBe(true);

    // A --blobs-from that names nothing refuses the restore before anything changes.
    const missing = join(env.DATA_DIR, "no-such-dir");
    const refused = await runScript("backup/database-restore.sh", [backupPath, "--yes", "--blobs-from", missing], env);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toContain(`--blobs-from ${missing}: no such directory`);
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(200);
  }, slow);

  it("an embedded backup with local files restores into PostgreSQL with files in S3", async () => {
    const source = await startTestPlatform({ name: "embedded", provision: async () => ({ env: {}, dispose: async () => undefined }) }, { AZORA_MASTER_KEY: masterKey });
    cleanup.push(() => source.stop());
    const { jane, bytes, path } = await seed(source);
    const backup = await runScript("backup/database-backup.sh", ["full", "--json"], { DATA_DIR: source.dataDir });
    expect(backup.code, backup.stderr).toBe(0);
    const backupPath = (JSON.parse(backup.stdout) as { path: string }).path;

    const s3 = await startS3("azora-to-pg");
    cleanup.push(() => s3.stop());
    const provisioned = await postgres!.provision();
    cleanup.push(() => provisioned.dispose());
    // The backup is given by its path in the old DATA_DIR: the files are taken from DATA_DIR/blobs beside it.
    const env = { DATA_DIR: await makeDataDir(), AZORA_MASTER_KEY: masterKey, ...provisioned.env, ...s3.env };
    cleanup.push(() => rm(env.DATA_DIR, { recursive: true, force: true }));
    const restore = await runScript("backup/database-restore.sh", [backupPath, "--yes"], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain("Attachment files: 1 named by the restored database, 1 copied into the S3 bucket");
    expect(await bucketBlobs(s3)).toHaveLength(1);

    const moved = await startMoved(env);
    const download = await downloadFile(moved.urls.gateway ?? "", jane.accessToken, path);
    expect(download.status).toBe(200);
    expect(download.bytes.equals(bytes)).toBe(true);
  }, slow);

});
