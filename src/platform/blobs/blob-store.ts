import type { Readable } from "node:stream";

/** A blob's name is the SHA-256 of its bytes (lower-case hex): equal files are stored once. */
export const blobKeyPattern = /^[0-9a-f]{64}$/;

/**
 * Where attachment bytes live: files under DATA_DIR/blobs on the embedded default, an S3 bucket in
 * production. Blobs are content-addressed and immutable, so a put of a key that exists is a no-op.
 */
export interface BlobStore {
  readonly kind: "local" | "s3";
  /** Stores a staged file (see stageBlob) under its hash; the staged file is consumed. */
  put(key: string, stagedPath: string): Promise<void>;
  /** The blob's bytes, or undefined when there is no such blob. */
  get(key: string): Promise<Readable | undefined>;
  has(key: string): Promise<boolean>;
  /** Removes the blob; removing one that is gone is not an error. */
  delete(key: string): Promise<void>;
  /** Every stored key (backups of content walk it). */
  list(): AsyncIterable<string>;
  /** Where staged uploads are written before put (same file system as the local store, so put is a rename). */
  readonly stagingDir: string;
  close(): Promise<void>;
}

export function assertBlobKey(key: string): void {
  if (!blobKeyPattern.test(key)) throw new Error(`not a blob key: ${JSON.stringify(key.slice(0, 80))}`);
}
