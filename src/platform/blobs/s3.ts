import { createReadStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { assertBlobKey, blobKeyPattern, type BlobStore } from "./blob-store.ts";

export interface S3BlobOptions {
  endpoint: string | undefined;
  bucket: string;
  region: string;
  forcePathStyle: boolean;
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** Key prefix inside the bucket, so backups and blobs can share one bucket. */
  prefix: string;
  stagingDir: string;
}

/** The S3 client for the configured bucket: bounded timeouts, few retries, checksums only where S3 demands them. */
export function createS3Client(options: Pick<S3BlobOptions, "region" | "forcePathStyle" | "endpoint" | "credentials">): S3Client {
  return new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // A blob call must not hang a request: bounded connect and socket time, few retries.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
    maxAttempts: 3,
    // Checksums only where S3 demands them: S3-compatible stores (MinIO versions, s3rver) refuse the
    // newer streaming-trailer uploads; the blob's SHA-256 is its name and is checked on our side.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** Blobs as objects in an S3 bucket (AWS or any S3-compatible store), named `<prefix><sha256>`. */
export function createS3BlobStore(options: S3BlobOptions): BlobStore {
  const client = createS3Client(options);
  const { bucket, prefix } = options;
  const objectKey = (key: string) => {
    assertBlobKey(key);
    return `${prefix}${key}`;
  };

  return {
    kind: "s3",
    stagingDir: options.stagingDir,
    async put(key, stagedPath) {
      try {
        const { size } = await stat(stagedPath);
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: objectKey(key), Body: createReadStream(stagedPath), ContentLength: size, ContentType: "application/octet-stream" }),
        );
      } finally {
        await rm(stagedPath, { force: true });
      }
    },
    async get(key) {
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
        return answer.Body as Readable;
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
    async has(key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
        return true;
      } catch (error) {
        if (isMissing(error)) return false;
        throw error;
      }
    },
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
    },
    async *list() {
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const object of page.Contents ?? []) {
          const name = object.Key?.slice(prefix.length) ?? "";
          if (blobKeyPattern.test(name)) yield name;
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
    close: async () => client.destroy(),
  };
}

function isMissing(error: unknown): boolean {
  if (error instanceof S3ServiceException) return error.name === "NoSuchKey" || error.name === "NotFound" || error.$metadata.httpStatusCode === 404;
  return false;
}
