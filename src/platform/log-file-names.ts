import { createReadStream } from "node:fs";
import { access, readdir } from "node:fs/promises";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";

/**
 * Whether `file` (a name in LOG_DIR) is one of `stream`'s files: the live one and the rotated ones of every
 * rotation this project ships, `azora logs rotate`'s (api.log.20261129T043100Z.gz), Debian logrotate's with
 * deployment/logrotate/azora (api.log-20261129-1764390000.gz) and logrotate's defaults (api.log.1, .2.gz).
 * A `.partial` file is `azora logs rotate`'s gzip being written: its lines are still in the uncompressed file.
 */
export function isStreamLogFile(file: string, stream: string): boolean {
  if (file.endsWith(".partial")) return false;
  return file === `${stream}.log` || file.startsWith(`${stream}.log.`) || file.startsWith(`${stream}.log-`);
}

/**
 * The names of one stream's files in `dir`, live and rotated, sorted by name (not by time: readers order
 * lines by their own `time`). A missing directory has none.
 *
 * While a rotation compresses, both `X` and `X.gz` exist for a moment (logrotate writes `X.gz` beside `X`
 * and unlinks `X` when done; `azora logs rotate` renames its finished gzip into place, then removes `X`).
 * Reading both would count every line of that rotation twice, so `X.gz` is left out while `X` exists: the
 * uncompressed copy is the complete one, and the gzip may still be half-written.
 */
export async function streamLogFiles(dir: string, stream: string): Promise<string[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((file) => isStreamLogFile(file, stream));
  const present = new Set(names);
  return names.filter((file) => !(file.endsWith(".gz") && present.has(file.slice(0, -".gz".length)))).sort();
}

/**
 * Where a listed file's lines are now: the path itself, or, when a rotation finished compressing it since it
 * was listed (the plain copy unlinked), its `.gz`; undefined when neither is there any more (pruned). Readers
 * call it just before opening a file, because reading a directory's files can take long enough for that.
 */
export async function currentLogPath(path: string): Promise<string | undefined> {
  if (await exists(path)) return path;
  if (!path.endsWith(".gz") && (await exists(`${path}.gz`))) return `${path}.gz`;
  return undefined;
}

const exists = (path: string) => access(path).then(() => true, () => false);

/**
 * The lines of one log file, gunzipped when its name ends in .gz; a plain file from byte `start` (`onBytes` is
 * told each chunk's size, for --follow). A failure of the file itself (unlinked between the check and the open,
 * unreadable) reaches the iterator as an error, like a torn gzip's. Piped by hand into the gunzip, it would be
 * an 'error' event nobody listens to, which stops the whole process instead of failing this one read.
 */
export function logFileLines(path: string, options: { start?: number; onBytes?: (bytes: number) => void } = {}): AsyncIterable<string> {
  if (!path.endsWith(".gz")) {
    const raw = createReadStream(path, { start: options.start ?? 0 });
    if (options.onBytes) raw.on("data", (chunk) => options.onBytes!(chunk.length));
    return createInterface({ input: raw, crlfDelay: Infinity });
  }
  const raw = createReadStream(path);
  const gunzip = createGunzip();
  raw.on("error", (error) => gunzip.destroy(error));
  return createInterface({ input: raw.pipe(gunzip), crlfDelay: Infinity });
}

/** Whether a read failed because the file was gone by the time it was opened (pruned after its check). */
export const vanished = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
