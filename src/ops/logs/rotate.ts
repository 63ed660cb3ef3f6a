import { createReadStream, createWriteStream } from "node:fs";
import { open, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { signalReopen, type LogWriter } from "./reopen.ts";

/** The platform's log streams (logger.ts). */
export const LOG_STREAMS = ["api", "auth", "security"] as const;

export interface RotateOptions {
  maxBytes: number;
  maxAgeMs: number;
  keep: number;
  /** Rotate every non-empty file whatever its size and age. */
  force: boolean;
  dryRun: boolean;
  now: Date;
}

export interface RotatedFile {
  stream: string;
  reason: "size" | "age" | "forced";
  bytes: number;
  /** The compressed file, or the moved one when compression had to be left out. */
  file: string;
}

export interface RotateReport {
  rotated: RotatedFile[];
  skipped: { stream: string; reason: string }[];
  removed: string[];
  /** The process told to reopen its files, or why none was. */
  writer: { pid: number; reopened: boolean } | { pid: null; reason: string };
  dryRun: boolean;
}

/** A rotated file's name: api.log.20261129T043100Z.gz (sorts by time; -N added if two fall in one second). */
const rotatedName = (stream: string) => new RegExp(`^${stream}\\.log\\.\\d{8}T\\d{6}Z(?:-\\d+)?\\.gz$`);
const stamp = (now: Date) => now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");

/** When the file's first line was written (its `time` field), or undefined when it has none. */
async function firstLineTime(path: string): Promise<number | undefined> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const line = buffer.subarray(0, bytesRead).toString("utf8").split("\n", 1)[0] ?? "";
    const time = (JSON.parse(line) as { time?: unknown }).time;
    const parsed = typeof time === "string" ? Date.parse(time) : Number.NaN;
    return Number.isNaN(parsed) ? undefined : parsed;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

async function rotationReason(path: string, options: RotateOptions): Promise<{ reason: RotatedFile["reason"]; bytes: number } | string> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return "no file";
  if (info.size === 0) return "empty";
  if (options.force) return { reason: "forced", bytes: info.size };
  if (info.size >= options.maxBytes) return { reason: "size", bytes: info.size };
  const since = (await firstLineTime(path)) ?? info.birthtimeMs;
  if (options.now.getTime() - since >= options.maxAgeMs) return { reason: "age", bytes: info.size };
  return "below size and age limits";
}

async function freeName(dir: string, base: string): Promise<string> {
  const taken = new Set(await readdir(dir));
  for (let n = 0; ; n++) {
    const name = n === 0 ? base : `${base}-${n}`;
    if (!taken.has(name) && !taken.has(`${name}.gz`)) return name;
  }
}

/** Compresses to a temporary name first, so a half-written .gz never looks like a finished one. */
async function gzipFile(path: string): Promise<string> {
  const target = `${path}.gz`;
  const partial = `${target}.partial`;
  await pipeline(createReadStream(path), createGzip(), createWriteStream(partial, { mode: 0o640 }));
  await rename(partial, target);
  await rm(path);
  return target;
}

/** Deletes the oldest compressed files of a stream beyond `keep`; returns their names. */
async function prune(dir: string, stream: string, keep: number, dryRun: boolean): Promise<string[]> {
  const pattern = rotatedName(stream);
  const old = (await readdir(dir)).filter((name) => pattern.test(name)).sort().reverse().slice(keep);
  if (!dryRun) for (const name of old) await rm(join(dir, name), { force: true });
  return old;
}

/**
 * Rotates the log files that are over their size or age: move, tell the writer to reopen (so no line
 * is lost: what it buffered goes to the moved file, what follows to a new one), then compress and prune.
 */
export async function rotateLogs(dir: string, writer: LogWriter, options: RotateOptions): Promise<RotateReport> {
  const due: { stream: string; reason: RotatedFile["reason"]; bytes: number }[] = [];
  const skipped: RotateReport["skipped"] = [];
  for (const stream of LOG_STREAMS) {
    const verdict = await rotationReason(join(dir, `${stream}.log`), options);
    if (typeof verdict === "string") skipped.push({ stream, reason: verdict });
    else due.push({ stream, ...verdict });
  }
  const noWriter = { pid: null, reason: writer.pid === undefined ? writer.reason : "" } as const;
  if (options.dryRun || due.length === 0) {
    const removed: string[] = [];
    for (const stream of LOG_STREAMS) removed.push(...(await prune(dir, stream, options.keep, true)));
    const report = due.map((entry) => ({ ...entry, file: join(dir, `${entry.stream}.log.${stamp(options.now)}.gz`) }));
    return { rotated: report, skipped, removed, writer: writer.pid === undefined ? noWriter : { pid: writer.pid, reopened: false }, dryRun: options.dryRun };
  }

  const moved: { stream: string; reason: RotatedFile["reason"]; bytes: number; path: string }[] = [];
  for (const entry of due) {
    const target = join(dir, await freeName(dir, `${entry.stream}.log.${stamp(options.now)}`));
    await rename(join(dir, `${entry.stream}.log`), target);
    moved.push({ ...entry, path: target });
  }
  let reopened = true;
  if (writer.pid !== undefined) {
    reopened = await signalReopen(writer.pid, moved.map((entry) => join(dir, `${entry.stream}.log`)));
  }
  const rotated: RotatedFile[] = [];
  for (const entry of moved) {
    // A writer that has not reopened may still append to the moved file: leave it uncompressed.
    const file = reopened ? await gzipFile(entry.path) : entry.path;
    rotated.push({ stream: entry.stream, reason: entry.reason, bytes: entry.bytes, file });
  }
  const removed: string[] = [];
  for (const stream of LOG_STREAMS) removed.push(...(await prune(dir, stream, options.keep, false)));
  return { rotated, skipped, removed, writer: writer.pid === undefined ? noWriter : { pid: writer.pid, reopened }, dryRun: false };
}
