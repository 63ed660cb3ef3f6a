import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../src/ops/backup/manifest.ts";
import { remoteLocation, uploadBackup, verifyRemoteBackup } from "../src/ops/backup/s3-backups.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

/** A database dump larger than one part reaches the bucket as a multipart upload (a PutObject stops at 5 GiB). */
describe("backup copies to S3 in parts", () => {
  let s3: TestS3;
  let dir: string;
  beforeAll(async () => {
    s3 = await startS3();
    dir = await mkdtemp(join(tmpdir(), "azora-multipart-"));
  });
  afterAll(async () => {
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("sends a dump above the part size in several parts, the manifest in one, and the bucket's copy verifies byte for byte", async () => {
    const id = "20261129T120000Z-full-abc123";
    const backupDir = join(dir, id);
    await mkdir(backupDir);
    // 1.5 MiB of random bytes with a part size of 256 KiB: six full parts and a short last one.
    const dump = randomBytes(1.5 * 1024 * 1024 + 12_345);
    await writeFile(join(backupDir, "database.pgdump"), dump);
    const manifest: Manifest = {
      format: 1,
      id,
      kind: "full",
      createdAt: "2026-11-29T12:00:00.000Z",
      appVersion: "test",
      engine: "postgres",
      dump: { file: "database.pgdump", format: "pg_dump-custom", gzip: false },
      schemaVersion: "",
      tables: [],
      files: [{ name: "database.pgdump", bytes: dump.length, sha256: createHash("sha256").update(dump).digest("hex") }],
      encryption: null,
      sizeBytes: dump.length,
      durationSeconds: 0,
      keep: false,
    };
    await writeFile(join(backupDir, "manifest.json"), JSON.stringify(manifest));
    const config = { endpoint: s3.endpoint, bucket: s3.bucket, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } };

    const location = await uploadBackup(config, { dir: backupDir, manifest }, { partBytes: 256 * 1024 });
    expect(location).toBe(remoteLocation(config, id));
    expect(s3.events).toEqual([`ObjectCreated:Post backups/database/${id}/database.pgdump`, `ObjectCreated:Put backups/database/${id}/manifest.json`]);
    expect(await verifyRemoteBackup(config, { manifest, location })).toEqual([]);
    // No upload is left open in the bucket (s3rver keeps each open one in a directory under ._S3rver_uploads).
    const uploads = await readdir(join(s3.directory, s3.bucket, "._S3rver_uploads")).catch(() => [] as string[]);
    expect(uploads).toEqual([]);
  }, 120_000);
});
