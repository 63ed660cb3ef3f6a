import { join } from "node:path";
import type { Config } from "../config.ts";
import type { BlobStore } from "./blob-store.ts";
import { createLocalBlobStore } from "./local.ts";

/** Prefix of attachment blobs inside the bucket (backups use their own prefix). */
export const S3_BLOB_PREFIX = "blobs/";

/** The S3 bucket when S3_BUCKET is set, files in DATA_DIR/blobs otherwise. */
export async function openBlobStore(config: Pick<Config, "s3" | "paths">): Promise<BlobStore> {
  if (!config.s3) return createLocalBlobStore(config.paths.blobs);
  // Loaded only when configured: the AWS SDK is large, and every CLI start would pay for it.
  const { createS3BlobStore } = await import("./s3.ts");
  return createS3BlobStore({ ...config.s3, prefix: S3_BLOB_PREFIX, stagingDir: join(config.paths.blobs, ".staging") });
}
