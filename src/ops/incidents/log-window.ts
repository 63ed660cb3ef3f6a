import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { currentLogPath, logFileLines, streamLogFiles } from "../../platform/log-file-names.ts";
import { LOG_STREAMS } from "../logs/rotate.ts";

/** A window of time, both ends included. */
export interface TimeWindow {
  since: Date;
  until: Date;
}

export interface StreamCut {
  stream: string;
  /** Files read: the live one and every rotated one (compressed or not). */
  files: string[];
  lines: string[];
}

/** The time of one JSON log line, or undefined for a line that is not one (a torn last line, a stack trace). */
export function lineTime(line: string): number | undefined {
  const match = /"time":"([^"]+)"/.exec(line);
  if (!match) return undefined;
  const time = Date.parse(match[1]!);
  return Number.isNaN(time) ? undefined : time;
}

/**
 * Every line of each stream (api, auth, security) whose time falls in the window, oldest first, read from the
 * live file and the rotated ones (`api.log.20261129T043100Z.gz`), because an incident often spans a rotation.
 */
export async function cutLogs(logDir: string, window: TimeWindow): Promise<StreamCut[]> {
  const cuts: StreamCut[] = [];
  for (const stream of LOG_STREAMS) {
    const files = await streamLogFiles(logDir, stream);
    const lines: { time: number; line: string }[] = [];
    for (const file of files) {
      let text: string;
      try {
        const path = await currentLogPath(join(logDir, file));
        if (path === undefined) continue;
        const raw = await readFile(path);
        text = (path.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
      } catch {
        // Pruned while listed, or a gzip logrotate is still writing (its lines are in the uncompressed file): skipped.
        continue;
      }
      for (const line of text.split("\n")) {
        const time = lineTime(line);
        if (time !== undefined && time >= window.since.getTime() && time <= window.until.getTime()) lines.push({ time, line });
      }
    }
    lines.sort((a, b) => a.time - b.time);
    cuts.push({ stream, files, lines: lines.map((entry) => entry.line) });
  }
  return cuts;
}

/**
 * Every line of one stream's files (the live one and the rotated ones, gzip or not), read as a stream so a
 * large log is never held in memory; returns the names of the files read. A file that vanishes while it is
 * read (rotation pruned it) is skipped.
 */
export async function forEachLogLine(logDir: string, stream: string, onLine: (line: string) => void): Promise<string[]> {
  const files = await streamLogFiles(logDir, stream);
  for (const file of files) {
    const path = await currentLogPath(join(logDir, file));
    if (path === undefined) continue;
    try {
      for await (const line of logFileLines(path)) onLine(line);
    } catch {
      // Gone, unreadable or torn mid-read: what was read counts.
    }
  }
  return files;
}
