import { join } from "node:path";
import { currentLogPath, logFileLines, streamLogFiles, vanished } from "../../platform/log-file-names.ts";

/** One parsed log line, as pino wrote it (`time` is ISO-8601, `event` the name from log-events.ts). */
export type LogLine = Record<string, unknown> & { time: string; event?: string };

/**
 * The log files of `streams` under `dir`, live and rotated by any rotation this project ships (`auth.log.1`,
 * `auth.log.20261129T043100Z.gz`, logrotate's `auth.log-20261129-1764390000.gz`), found by the one discovery
 * the incident and compliance readers use: a rotation caught while it compresses is read once. Detectors
 * order events by their time, so the files come stream by stream, sorted by name.
 */
export async function logFiles(dir: string, streams: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const stream of streams) for (const name of await streamLogFiles(dir, stream)) files.push(join(dir, name));
  return files;
}

export interface ReadOptions {
  /** Window, epoch milliseconds: lines outside [since, until) are skipped. */
  since: number;
  until: number;
  /** A cheap test on the raw text before JSON parsing: most lines (access lines) are not wanted by a detector. */
  wanted(raw: string): boolean;
}

/**
 * Streams the wanted lines of one file (gzip when the name ends in .gz) in the window. Reads line by line,
 * so a file of any size costs only the lines kept. A line that is not JSON (a torn last line) is skipped.
 * Returns the number of bytes read from a plain file, so --follow can continue from there.
 */
export async function readLogFile(listed: string, options: ReadOptions, onLine: (line: LogLine) => void, start = 0): Promise<{ lines: number; bytes: number }> {
  // From the start, a rotated file compressed since it was listed is read from its .gz; one pruned has nothing.
  const path = start === 0 ? await currentLogPath(listed) : listed;
  if (path === undefined) return { lines: 0, bytes: 0 };
  let bytes = start;
  let lines = 0;
  try {
    for await (const text of logFileLines(path, { start, onBytes: (read) => (bytes += read) })) {
      lines++;
      if (!options.wanted(text)) continue;
      const line = parseLine(text);
      if (!line) continue;
      const at = Date.parse(line.time);
      if (at >= options.since && at < options.until) onLine(line);
    }
  } catch (error) {
    // Pruned between the check and the open: nothing to read, as when it was gone before the check.
    if (vanished(error)) return { lines, bytes };
    throw new Error(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { lines, bytes };
}

function parseLine(text: string): LogLine | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === "object" && value !== null && typeof (value as LogLine).time === "string" ? (value as LogLine) : undefined;
  } catch {
    return undefined;
  }
}

/** A time given to --since/--until: ISO-8601, or a duration before now ("24h", "30m", "7d", "90s"). */
export function parseTimeArgument(value: string, now: number): number | undefined {
  const relative = /^(\d+)([smhd])$/.exec(value.trim());
  if (relative) return now - Number(relative[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as "s" | "m" | "h" | "d"];
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}
