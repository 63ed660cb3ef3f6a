import { createInflate, type Inflate } from "node:zlib";
import { once } from "node:events";
import type { Readable } from "node:stream";
import type { TableStats } from "./manifest.ts";
import { CopyRowsChecksum } from "./copy-rows-checksum.ts";

/** Archive versions whose layout this reader knows: pg_dump 12–15 (1.14), 16 (1.15), 17 (1.16). */
const KNOWN_VERSIONS = new Set(["1.14", "1.15", "1.16"]);
const BLK_DATA = 1;
const GZIP = 1;

/** An archive this reader does not know: the caller falls back to reading the statistics with SQL. */
export class UnknownArchive extends Error {}

/**
 * Bytes of a stream read in the sizes asked for. Reads never copy more than the request: a data chunk
 * (a few KiB) is one subarray of the incoming buffer whenever it lies inside one.
 */
class StreamBytes {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly chunks: AsyncIterator<Buffer>;
  constructor(source: AsyncIterable<Buffer>) {
    this.chunks = source[Symbol.asyncIterator]();
  }

  async bytes(count: number): Promise<Buffer> {
    while (this.buffer.length < count) {
      const next = await this.chunks.next();
      if (next.done) throw new Error("the archive ends early (cut off)");
      this.buffer = this.buffer.length === 0 ? next.value : Buffer.concat([this.buffer, next.value]);
    }
    const out = this.buffer.subarray(0, count);
    this.buffer = this.buffer.subarray(count);
    return out;
  }

  async byte(): Promise<number> {
    return (await this.bytes(1))[0] ?? 0;
  }

  /** Whether the stream is over (nothing buffered, nothing more to come). */
  async atEnd(): Promise<boolean> {
    while (this.buffer.length === 0) {
      const next = await this.chunks.next();
      if (next.done) return true;
      this.buffer = next.value;
    }
    return false;
  }
}

/** pg_dump's integers: a sign byte, then intSize bytes, least significant first. */
class ArchiveReader {
  intSize = 4;
  offSize = 8;
  /** The archive's minor version: 1.16 added the relation kind to each table-of-contents entry. */
  minor = 0;
  constructor(readonly input: StreamBytes) {}

  async int(): Promise<number> {
    const sign = await this.input.byte();
    const bytes = await this.input.bytes(this.intSize);
    let value = 0;
    for (let i = bytes.length - 1; i >= 0; i--) value = value * 256 + (bytes[i] ?? 0);
    return sign ? -value : value;
  }

  async str(): Promise<string | null> {
    const length = await this.int();
    if (length < 0) return null;
    return (await this.input.bytes(length)).toString("utf8");
  }
}

interface TocEntry {
  tag: string;
  desc: string;
  namespace: string | null;
}

/**
 * Row counts and COPY-line checksums of the tables in schema public, read from pg_dump's custom-format
 * archive as it streams (ADR 0460): the header and table of contents come first, then each table's data
 * block (zlib-compressed chunks) in turn. Only what the manifest needs is kept; the archive itself goes
 * to the backup file untouched by this reader.
 */
export async function statsFromArchive(source: Readable): Promise<TableStats[]> {
  const reader = new ArchiveReader(new StreamBytes(source));
  const { compressed } = await readHeader(reader);
  const toc = await readToc(reader);
  const stats: TableStats[] = [];
  while (!(await reader.input.atEnd())) {
    const type = await reader.input.byte();
    const dumpId = await reader.int();
    if (type !== BLK_DATA) throw new UnknownArchive(`data block of type ${type} (large objects are not part of Azora OS's schema)`);
    const entry = toc.get(dumpId);
    const counted = entry?.desc === "TABLE DATA" && entry.namespace === "public" ? new CopyRowsChecksum() : undefined;
    await readDataBlock(reader, compressed, counted);
    if (counted && entry) stats.push(counted.finish(entry.tag));
  }
  return stats.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function readHeader(reader: ArchiveReader): Promise<{ compressed: boolean }> {
  const magic = (await reader.input.bytes(5)).toString("latin1");
  if (magic !== "PGDMP") throw new UnknownArchive("not a pg_dump custom-format archive");
  const [major, minor] = [await reader.input.byte(), await reader.input.byte()];
  await reader.input.byte();
  if (!KNOWN_VERSIONS.has(`${major}.${minor}`)) throw new UnknownArchive(`archive version ${major}.${minor}`);
  reader.minor = minor;
  reader.intSize = await reader.input.byte();
  reader.offSize = await reader.input.byte();
  if (reader.intSize > 8 || reader.offSize > 8) throw new UnknownArchive(`integer size ${reader.intSize}`);
  await reader.input.byte(); // format: custom
  // 1.15 names the compression algorithm (0 none, 1 gzip, 2 lz4, 3 zstd); before, a gzip level (0 = none).
  const compression = minor >= 15 ? await reader.input.byte() : (await reader.int()) !== 0 ? GZIP : 0;
  if (compression !== 0 && compression !== GZIP) throw new UnknownArchive(`compression algorithm ${compression}`);
  for (let field = 0; field < 7; field++) await reader.int(); // creation time
  for (let field = 0; field < 3; field++) await reader.str(); // database name, server and pg_dump versions
  return { compressed: compression === GZIP };
}

async function readToc(reader: ArchiveReader): Promise<Map<number, TocEntry>> {
  const count = await reader.int();
  const toc = new Map<number, TocEntry>();
  for (let index = 0; index < count; index++) {
    const dumpId = await reader.int();
    await reader.int(); // has data
    await reader.str(); // table oid
    await reader.str(); // oid
    const tag = (await reader.str()) ?? "";
    const desc = (await reader.str()) ?? "";
    await reader.int(); // section
    for (let field = 0; field < 3; field++) await reader.str(); // definition, drop and COPY statements
    const namespace = await reader.str();
    await reader.str(); // tablespace
    await reader.str(); // table access method
    if (reader.minor >= 16) await reader.int(); // relation kind
    await reader.str(); // owner
    await reader.str(); // "false" (tables with OIDs, long gone)
    while ((await reader.str()) !== null); // dependencies
    await reader.input.byte(); // data offset: a flag …
    await reader.input.bytes(reader.offSize); // … and the offset (unset when written to a pipe)
    toc.set(dumpId, { tag, desc, namespace });
  }
  return toc;
}

/** Compressed bytes are handed to zlib in pieces of about this size (pg_dump writes 4 KiB chunks). */
const INFLATE_BATCH = 256 * 1024;

/** One data block: chunks (length, bytes) up to a zero length; inflated when the archive is compressed. */
async function readDataBlock(reader: ArchiveReader, compressed: boolean, counted: CopyRowsChecksum | undefined): Promise<void> {
  const inflate: Inflate | undefined = compressed && counted ? createInflate({ chunkSize: INFLATE_BATCH }) : undefined;
  const inflated = inflate ? once(inflate, "end") : undefined;
  // Awaited below; a failure before then must not surface as an unhandled rejection.
  inflated?.catch(() => undefined);
  inflate?.on("data", (chunk: Buffer) => counted?.update(chunk));
  let batch: Buffer[] = [];
  let batched = 0;
  const flush = async () => {
    if (!inflate || batched === 0) return;
    const more = inflate.write(batch.length === 1 ? batch[0] : Buffer.concat(batch));
    batch = [];
    batched = 0;
    if (!more) await once(inflate, "drain");
  };
  for (let length = await reader.int(); length !== 0; length = await reader.int()) {
    const chunk = await reader.input.bytes(length);
    if (!counted) continue;
    if (!inflate) {
      counted.update(chunk);
      continue;
    }
    batch.push(chunk);
    batched += length;
    if (batched >= INFLATE_BATCH) await flush();
  }
  if (inflate) {
    await flush();
    inflate.end();
    await inflated;
  }
}
