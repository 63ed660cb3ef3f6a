import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { downloadFile, pngBytes, uploadFile } from "./helpers/attachments.ts";
import { backends } from "./helpers/backends.ts";
import { runScript, startPlatformWithS3, type PlatformWithS3 } from "./helpers/backup.ts";
import { runCli } from "./helpers/cli.ts";
import { makeDataDir, type TestPlatform } from "./helpers/platform.ts";

/**
 * Content backups whose pool is in S3 live in the bucket whole: their manifests beside the pool (a new machine
 * restores from the bucket alone), their retention by the bucket's numbers. PostgreSQL only: a second machine
 * shares the database, which an embedded data directory cannot.
 */
describe.each(backends().filter((backend) => backend.name !== "embedded"))("content backups in S3 ($name)", (backend) => {
  let installation: PlatformWithS3 | undefined;
  let platform: TestPlatform;
  let env: Record<string, string>;
  const slow = 400_000;
  // Locally one day; the bucket keeps thirty.
  const retention = { BACKUP_KEEP_DAILY: "1", BACKUP_KEEP_HOURLY: "0", BACKUP_S3_KEEP_DAILY: "30", BACKUP_S3_KEEP_HOURLY: "0" };

  beforeAll(async () => {
    installation = await startPlatformWithS3(backend, retention);
    ({ platform, env } = installation);
  }, slow);
  afterAll(() => installation?.stop());

  it("a new machine (an empty DATA_DIR) restores the attachment files from the bucket alone", async () => {
    const api = apiClient(platform.baseUrl);
    const owner = await api.newUser("new-machine");
    const content = (await api.call("POST", "/api/content", { token: owner.accessToken, json: { title: "kept in the bucket" } })).body;
    const bytes = Buffer.concat([pngBytes(), Buffer.from("a file only the bucket will hold ".repeat(50))]);
    const attachment = (await uploadFile(platform.baseUrl, owner.accessToken, content.id, { bytes, filename: "kept.png" })).body;
    const path = `/api/content/${content.id}/attachments/${attachment.id}`;
    const taken = await runScript("backup/content-backup.sh", ["--json"], env);
    expect(taken.code, taken.stderr).toBe(0);
    const { id } = JSON.parse(taken.stdout) as { id: string };

    // The machine is lost with its disk, and the live files with it.
    await rm(platform.config.paths.backups, { recursive: true, force: true });
    const live: string[] = [];
    for await (const key of platform.running.context.blobs.list()) live.push(key);
    for (const key of live) await platform.running.context.blobs.delete(key);
    expect((await downloadFile(platform.baseUrl, owner.accessToken, path)).status).not.toBe(200);

    const fresh = await makeDataDir();
    try {
      const restored = await runCli(["restore", "content", "latest", "--yes"], { ...env, DATA_DIR: fresh });
      expect(restored.code, restored.stderr).toBe(0);
      expect(restored.stdout).toContain(`Restored content backup ${id}: 1 files copied back`);
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
    const download = await downloadFile(platform.baseUrl, owner.accessToken, path);
    expect(download.status).toBe(200);
    expect(download.bytes.equals(bytes)).toBe(true);
  }, slow);

  it("retention of content backups in the bucket follows BACKUP_S3_KEEP_DAILY, not the local numbers", async () => {
    // A content backup from three days ago: past the local day, well inside the bucket's thirty.
    const threeDaysAgo = new Date(Date.now() - 3 * 24 * 3_600_000);
    const oldId = `${threeDaysAgo.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-content-0a0b0c`;
    await mkdir(join(platform.config.paths.backups, "content"), { recursive: true });
    await writeFile(join(platform.config.paths.backups, "content", `${oldId}.json`), JSON.stringify({ id: oldId, createdAt: threeDaysAgo.toISOString(), destination: "s3", blobs: [], copied: 0 }));

    const taken = await runScript("backup/content-backup.sh", ["--json"], env);
    expect(taken.code, taken.stderr).toBe(0);
    expect((JSON.parse(taken.stdout) as { expired: string[] }).expired).not.toContain(oldId);
    const listed = await runCli(["restore", "content", oldId, "--dry-run"], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`content backup ${oldId} holds 0 files`);
  }, slow);
});
