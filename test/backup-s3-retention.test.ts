import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Client } from "../src/platform/blobs/s3.ts";
import { backends } from "./helpers/backends.ts";
import { runScript, startPlatformWithS3, type PlatformWithS3 } from "./helpers/backup.ts";
import { runCli } from "./helpers/cli.ts";
import type { TestPlatform } from "./helpers/platform.ts";
import type { TestS3 } from "./helpers/s3.ts";

const dayMs = 24 * 3_600_000;

/** BACKUP_S3_KEEP_*: the bucket keeps its own number of backups, here more days than the local store. */
describe.each(backends())("retention of backup copies in S3 ($name)", (backend) => {
  let installation: PlatformWithS3 | undefined;
  let s3: TestS3;
  let platform: TestPlatform;
  let env: Record<string, string>;
  const slow = 400_000;
  // Locally the newest of today only; in the bucket the newest of each of the last 5 days.
  const retention = { BACKUP_KEEP_DAILY: "1", BACKUP_KEEP_HOURLY: "0", BACKUP_S3_KEEP_DAILY: "5", BACKUP_S3_KEEP_HOURLY: "0" };

  beforeAll(async () => {
    installation = await startPlatformWithS3(backend, retention);
    ({ s3, platform, env } = installation);
  }, slow);
  afterAll(() => installation?.stop());

  const take = async () => {
    const taken = await runScript("backup/database-backup.sh", ["full", "--json"], env);
    expect(taken.code, taken.stderr).toBe(0);
    return JSON.parse(taken.stdout) as { id: string; path: string; expired: string[]; expiredRemote: string[] };
  };
  const listed = async () => {
    const list = await runCli(["backup", "list", "--json"], env);
    expect(list.code, list.stderr).toBe(0);
    return JSON.parse(list.stdout) as { id: string; path?: string; remote?: string }[];
  };
  /** Makes a backup look older in the bucket (and on disk when it is still there): retention reads createdAt. */
  const backdate = async (id: string, path: string | undefined, daysAgo: number) => {
    const createdAt = new Date(Date.now() - daysAgo * dayMs).toISOString();
    if (path) {
      const local = JSON.parse(await readFile(join(path, "manifest.json"), "utf8")) as Record<string, unknown>;
      await writeFile(join(path, "manifest.json"), JSON.stringify({ ...local, createdAt }));
    }
    const { config } = platform;
    if (!config.s3) throw new Error("the test platform has no bucket");
    const client = createS3Client(config.s3);
    try {
      const Key = `backups/database/${id}/manifest.json`;
      const remote = JSON.parse(await ((await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key }))).Body?.transformToString("utf8") ?? "")) as Record<string, unknown>;
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: JSON.stringify({ ...remote, createdAt }), ContentType: "application/json" }));
    } finally {
      client.destroy();
    }
  };

  it("keeps a backup in the bucket that local retention removed, and expires the bucket's by its own days", async () => {
    const first = await take();
    await backdate(first.id, first.path, 3);

    // Three days old: past the local store's one day, within the bucket's five.
    const second = await take();
    expect(second.expired).toContain(first.id);
    expect(second.expiredRemote).not.toContain(first.id);
    let stores = await listed();
    expect(stores.find((backup) => backup.id === first.id)).toEqual(expect.objectContaining({ remote: expect.any(String) }));
    expect(stores.find((backup) => backup.id === first.id)?.path).toBeUndefined();

    // Eight days old in the bucket: past its five days, so the next backup expires it there; the three-day-old one stays.
    await backdate(second.id, undefined, 8);
    const third = await take();
    expect(third.expiredRemote).toEqual([second.id]);
    stores = await listed();
    expect(stores.map((backup) => backup.id)).toEqual([third.id, first.id]);
    expect(stores[0]).toEqual(expect.objectContaining({ path: third.path, remote: expect.any(String) }));
  }, slow);

  it("refuses a bucket retention that is not a whole number, naming the setting", async () => {
    const bad = await runCli(["backup", "list"], { ...env, BACKUP_S3_KEEP_DAILY: "many" });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("BACKUP_S3_KEEP_DAILY");
  }, slow);
});
