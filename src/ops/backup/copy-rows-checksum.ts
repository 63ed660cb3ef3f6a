import type { TableStats } from "./manifest.ts";
import { toStats } from "./table-stats.repository.ts";

const TWO_32 = 2 ** 32;
/** Partial sums move into a BigInt this often, long before a double loses a bit (2^20 lines of 2^32 < 2^53). */
const FOLD_EVERY = 1 << 20;

/**
 * The checksum of a table's rows as COPY text (format 2 manifests, ADR 0460): the row count and the sum of
 * a 64-bit hash of each line, a sum so that the same rows give the same checksum in any order (a restore
 * reorders them). Lines arrive in pieces of any size; a line is the bytes before "\n" (COPY escapes
 * newlines inside values). The hash is computed here, not by the database, so that a backup can derive it
 * from pg_dump's stream and a restore from `COPY … TO STDOUT` with the same code.
 */
export class CopyRowsChecksum {
  private rows = 0;
  private high = 0;
  private low = 0;
  private total = 0n;
  private pending: Buffer[] = [];
  /** pg_dump's end-of-data line "\." (never a row: a backslash in a value is written "\\"); nothing after it counts. */
  private ended = false;

  update(chunk: Buffer): void {
    let start = 0;
    while (!this.ended) {
      const end = chunk.indexOf(10, start);
      if (end < 0) break;
      if (this.pending.length > 0) {
        this.pending.push(chunk.subarray(start, end));
        const line = Buffer.concat(this.pending);
        this.pending = [];
        this.line(line, 0, line.length);
      } else {
        this.line(chunk, start, end);
      }
      start = end + 1;
    }
    if (!this.ended && start < chunk.length) this.pending.push(chunk.subarray(start));
  }

  /** The statistics once the table's rows are over; a last line without "\n" is a cut-off stream, refused. */
  finish(table: string): TableStats {
    if (this.pending.length > 0 && !this.ended) throw new Error(`the rows of ${table} end in the middle of a line (cut off)`);
    this.fold();
    return toStats(table, String(this.rows), this.total.toString());
  }

  private line(bytes: Buffer, start: number, end: number): void {
    if (end - start === 2 && bytes[start] === 0x5c && bytes[start + 1] === 0x2e) {
      this.ended = true;
      return;
    }
    lineHash(bytes, start, end, this.pair);
    this.high += this.pair[0];
    this.low += this.pair[1];
    if (++this.rows % FOLD_EVERY === 0) this.fold();
  }

  private readonly pair: [number, number] = [0, 0];

  private fold(): void {
    this.total += BigInt(this.high) * BigInt(TWO_32) + BigInt(this.low);
    this.high = 0;
    this.low = 0;
  }
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * A 64-bit hash of bytes[start, end) as two unsigned 32-bit halves: MurmurHash3's block mixing feeding two
 * differently updated lanes, each with its own finalizer. Not cryptographic, and it need not be: it tells
 * a changed or lost row from an intact one, as format 1's 60 bits of MD5 did, at a sixth of the cost in
 * this process (MD5 per line through node:crypto measured 4.0 s for a million rows, this 0.7 s).
 */
export function lineHash(bytes: Buffer, start: number, end: number, out: [number, number]): void {
  const length = end - start;
  let h1 = 0x9747b28c ^ length;
  let h2 = 0x85ebca6b ^ length;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    let k = (bytes[i] ?? 0) | ((bytes[i + 1] ?? 0) << 8) | ((bytes[i + 2] ?? 0) << 16) | ((bytes[i + 3] ?? 0) << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h1 ^= k;
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    h2 = (h2 + k) | 0;
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (Math.imul(h2, 0x27d4eb2d) + 0x165667b1) | 0;
  }
  let k = 0;
  for (let shift = 0; i < end; i++, shift += 8) k |= (bytes[i] ?? 0) << shift;
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h1 ^= k;
  h2 = (h2 + k) | 0;
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h1 = Math.imul(h1, 0xc2b2ae35);
  h1 ^= h1 >>> 16;
  h2 ^= h2 >>> 15;
  h2 = Math.imul(h2, 0x2c1b3c6d);
  h2 ^= h2 >>> 12;
  h2 = Math.imul(h2, 0x297a2d39);
  h2 ^= h2 >>> 15;
  out[0] = h1 >>> 0;
  out[1] = h2 >>> 0;
}
