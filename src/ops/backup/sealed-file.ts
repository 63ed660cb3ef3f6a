import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";

/** Marks an encrypted backup file; the version lets the format change without guessing. */
const MAGIC = Buffer.from("AZORA-BACKUP-AES256GCM-1\n");
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class BackupKeyError extends Error {}

/** How a stored file was made from the plain dump: gzip (SQL text) or not (pg_dump custom is compressed), then sealed or not. */
export interface Sealing {
  gzip: boolean;
  key: Buffer | undefined;
}

/** The size and SHA-256 of the bytes a file holds, known once it is written. */
export interface WrittenFile {
  bytes: number;
  sha256: string;
}

/**
 * Writes source to path: gzip if asked, then AES-256-GCM (magic, nonce, ciphertext, tag) when a key is given.
 * One pass: the stored bytes are counted and hashed on their way to the file, so the manifest's size and
 * SHA-256 need no second read of a file that may be many gigabytes.
 */
export async function sealFile(source: Readable, path: string, sealing: Sealing): Promise<WrittenFile> {
  const stages: NodeJS.ReadWriteStream[] = [];
  if (sealing.gzip) stages.push(createGzip({ level: 6 }));
  if (sealing.key) {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", sealing.key, iv);
    let headed = false;
    stages.push(cipher);
    // Magic and nonce go first, and the tag, known only after the last byte, last.
    stages.push(
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          if (!headed) this.push(Buffer.concat([MAGIC, iv]));
          headed = true;
          done(null, chunk);
        },
        flush(done) {
          if (!headed) this.push(Buffer.concat([MAGIC, iv]));
          this.push(cipher.getAuthTag());
          done();
        },
      }),
    );
  }
  const hash = createHash("sha256");
  let bytes = 0;
  stages.push(
    new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    }),
  );
  await pipeline([source, ...stages, createWriteStream(path, { mode: 0o600 })] as NodeJS.ReadWriteStream[]);
  return { bytes, sha256: hash.digest("hex") };
}

/** Whether a stored file starts with the encryption magic. */
export async function isSealed(path: string): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(MAGIC.length);
    const { bytesRead } = await handle.read(head, 0, MAGIC.length, 0);
    return bytesRead === MAGIC.length && head.equals(MAGIC);
  } finally {
    await handle.close();
  }
}

/**
 * Reverses sealFile into target. A wrong key or a changed byte fails the GCM tag check at the end,
 * so callers write to a scratch file and use it only when this resolves.
 */
export async function unsealFile(path: string, target: string, sealing: Sealing): Promise<void> {
  const stages: NodeJS.ReadWriteStream[] = [];
  let input: Readable;
  if (await isSealed(path)) {
    if (!sealing.key) throw new BackupKeyError("this backup is encrypted: set BACKUP_KEY (or the AZORA_MASTER_KEY it was taken with)");
    const size = (await stat(path)).size;
    const handle = await open(path, "r");
    const iv = Buffer.alloc(IV_BYTES);
    const tag = Buffer.alloc(TAG_BYTES);
    try {
      await handle.read(iv, 0, IV_BYTES, MAGIC.length);
      await handle.read(tag, 0, TAG_BYTES, size - TAG_BYTES);
    } finally {
      await handle.close();
    }
    const decipher = createDecipheriv("aes-256-gcm", sealing.key, iv);
    decipher.setAuthTag(tag);
    const start = MAGIC.length + IV_BYTES;
    // An empty plain text seals to magic, nonce and tag only: there is no ciphertext range to read.
    input = size - TAG_BYTES > start ? createReadStream(path, { start, end: size - TAG_BYTES - 1 }) : Readable.from([]);
    stages.push(decipher);
  } else {
    input = createReadStream(path);
  }
  if (sealing.gzip) stages.push(createGunzip());
  try {
    await pipeline([input, ...stages, createWriteStream(target, { mode: 0o600 })] as NodeJS.ReadWriteStream[]);
  } catch (error) {
    if ((error as Error).message.includes("unable to authenticate")) {
      throw new BackupKeyError("cannot decrypt the backup: wrong BACKUP_KEY/AZORA_MASTER_KEY, or the file was changed");
    }
    throw error;
  }
}

/** SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

/** A short public fingerprint of a key, so a restore can say "wrong key" before decrypting anything. */
export function keyFingerprint(key: Buffer): string {
  return createHash("sha256").update("azora:backup-key-id:").update(key).digest("hex").slice(0, 16);
}
