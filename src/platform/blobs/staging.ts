import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ownerTag } from "../process-identity.ts";

/** How many leading bytes are kept for sniffing the content type. */
const HEAD_BYTES = 4096;

/** The stream was longer than the limit; nothing was kept. */
export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`larger than ${maxBytes} bytes`);
    this.name = "BlobTooLargeError";
  }
}

export interface StagedBlob {
  path: string;
  key: string;
  size: number;
  /** The first bytes, to sniff the type from. */
  head: Buffer;
  /** Removes the staged file when it was not handed to a store. */
  discard(): Promise<void>;
}

/**
 * Writes a stream to a temporary file while hashing it, so the blob's name (its SHA-256) is known before
 * it is stored; a stream that fails (longer than maxBytes, cut off) leaves no file behind.
 */
export async function stageBlob(source: Readable, stagingDir: string, maxBytes = Number.POSITIVE_INFINITY): Promise<StagedBlob> {
  await mkdir(stagingDir, { recursive: true });
  // Tagged with this process, so that a later backup or restore can remove it if this process dies meanwhile.
  const path = join(stagingDir, `${ownerTag()}-${randomUUID()}.part`);
  const hash = createHash("sha256");
  let size = 0;
  const headChunks: Buffer[] = [];
  let headLength = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) {
        done(new BlobTooLargeError(maxBytes));
        return;
      }
      hash.update(chunk);
      if (headLength < HEAD_BYTES) {
        headChunks.push(chunk.subarray(0, HEAD_BYTES - headLength));
        headLength += Math.min(chunk.length, HEAD_BYTES - headLength);
      }
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, meter, createWriteStream(path, { flags: "wx", mode: 0o600 }));
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  return { path, key: hash.digest("hex"), size, head: Buffer.concat(headChunks), discard: () => rm(path, { force: true }) };
}
