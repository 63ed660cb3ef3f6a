import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobSourceRefused, explicitBlobSource } from "../src/ops/backup/blob-sources.ts";
import type { PlatformContext } from "../src/platform/context.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

/**
 * `azora restore … --blobs-from` an S3-compatible place (real s3rver on loopback): a place that cannot be
 * read refuses the restore before anything changes, instead of every attachment file looking absent and
 * the restored database going live without them.
 */
describe("--blobs-from an S3 place", () => {
  let s3: TestS3;
  let dataDir: string;
  let context: Pick<PlatformContext, "config">;
  const good = { S3_ACCESS_KEY_ID: "S3RVER", S3_SECRET_ACCESS_KEY: "S3RVER" };

  beforeAll(async () => {
    s3 = await startS3();
    dataDir = await mkdtemp(join(tmpdir(), "azora-blobs-from-"));
    context = { config: { paths: { blobs: join(dataDir, "blobs") } } } as unknown as Pick<PlatformContext, "config">;
  });
  afterAll(async () => {
    await s3?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("is opened when it can be read", async () => {
    const source = await explicitBlobSource(`${s3.endpoint}/${s3.bucket}/blobs/`, context, good);
    expect(source.label).toBe(`s3://${s3.bucket}/blobs/`);
    await source.store.close();
  });

  it("with wrong credentials, or a bucket that does not exist, refuses naming the place and never the secret", async () => {
    const secret = "not-the-secret-0123456789";
    const wrongKey = explicitBlobSource(`${s3.endpoint}/${s3.bucket}/blobs/`, context, { S3_ACCESS_KEY_ID: "NOBODY", S3_SECRET_ACCESS_KEY: secret });
    await expect(wrongKey).rejects.toThrow(BlobSourceRefused);
    await expect(wrongKey).rejects.toThrow(new RegExp(`--blobs-from s3://${s3.bucket}/blobs/ cannot be read \\(InvalidAccessKeyId`));
    await expect(wrongKey).rejects.not.toThrow(secret);
    const noBucket = explicitBlobSource(`${s3.endpoint}/no-such-bucket/blobs/`, context, good);
    await expect(noBucket).rejects.toThrow(/--blobs-from s3:\/\/no-such-bucket\/blobs\/ cannot be read \(NoSuchBucket/);
  });

  it("refuses credentials written into the address, without repeating them", async () => {
    const secret = "in-the-url-0123456789";
    const inUrl = s3.endpoint.replace("http://", `http://S3RVER:${secret}@`);
    const refused = explicitBlobSource(`${inUrl}/${s3.bucket}/blobs/`, context, good);
    await expect(refused).rejects.toThrow(/leave the credentials out of the address and set S3_ACCESS_KEY_ID/);
    await expect(refused).rejects.not.toThrow(secret);
  });
});
