import { createHash } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import { once } from "node:events";

const BLOCK = 512;

export interface TarEntryRecord {
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * Writes a POSIX ustar archive entry by entry, hashing each file as it passes, so the manifest at the end
 * can list every file's SHA-256 without reading anything twice. Plain `tar` reads the result.
 */
export function createTarWriter(out: Writable, mtime: Date) {
  const written: TarEntryRecord[] = [];

  async function write(chunk: Buffer): Promise<void> {
    if (!out.write(chunk)) await once(out, "drain");
  }

  async function addEntry(path: string, size: number, chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<TarEntryRecord> {
    await write(header(path, size, mtime));
    const hash = createHash("sha256");
    let seen = 0;
    for await (const chunk of chunks) {
      seen += chunk.length;
      if (seen > size) throw new Error(`${path}: longer than the announced ${size} bytes`);
      hash.update(chunk);
      await write(chunk);
    }
    if (seen !== size) throw new Error(`${path}: ${seen} bytes instead of the announced ${size}`);
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (padding > 0) await write(Buffer.alloc(padding));
    const record = { path, bytes: size, sha256: hash.digest("hex") };
    written.push(record);
    return record;
  }

  return {
    /** Adds a file from memory. */
    addBuffer: (path: string, data: Buffer) => addEntry(path, data.length, [data]),
    /** Adds a file from a stream whose length is known in advance (a tar header states it first). */
    addStream: (path: string, size: number, data: Readable) => addEntry(path, size, data as AsyncIterable<Buffer>),
    /** Every file written so far, in order. */
    entries: (): readonly TarEntryRecord[] => written,
    /** The two zero blocks that end an archive. */
    finish: () => write(Buffer.alloc(BLOCK * 2)),
  };
}

function header(path: string, size: number, mtime: Date): Buffer {
  const block = Buffer.alloc(BLOCK);
  const { name, prefix } = splitPath(path);
  block.write(name, 0, 100, "utf8");
  block.write("0000600\0", 100, "ascii");
  block.write("0000000\0", 108, "ascii");
  block.write("0000000\0", 116, "ascii");
  block.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  block.write(`${Math.floor(mtime.getTime() / 1000).toString(8).padStart(11, "0")}\0`, 136, "ascii");
  block.write("        ", 148, "ascii");
  block.write("0", 156, "ascii");
  block.write("ustar\0", 257, "ascii");
  block.write("00", 263, "ascii");
  block.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return block;
}

/** ustar keeps names in 100 bytes plus a 155-byte prefix split at a slash. */
function splitPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: "" };
  const cut = path.lastIndexOf("/", 155);
  const name = path.slice(cut + 1);
  const prefix = path.slice(0, Math.max(cut, 0));
  if (cut < 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`path too long for a tar archive: ${path}`);
  return { name, prefix };
}
