import { join } from "node:path";
import { forEachLogLine, lineTime } from "../incidents/log-window.ts";
import type { Point } from "./projection.ts";

const DAY_MS = 86_400_000;
// A day that the log covers for less than this says little about a daily rate (the log began in it).
const MIN_COVERED_MS = 3_600_000;

/** Whether a line is the gateway's access line: one per request served (the services' loopback hops are not counted again). */
const isGatewayAccessLine = (line: string) => line.includes('"event":"http_request"') && line.includes('"service":"gateway"');

export interface AccessLogRate {
  points: Point[];
  /** The files read, for the note that says where the rate comes from. */
  files: string[];
}

/**
 * The request rate from the gateway's access lines in api.log and its rotated files, when no Prometheus is
 * configured: for each of the last `days` 24-hour windows ending now (the shape of Prometheus's
 * `rate(…[1d])` at a one-day step), the lines in it divided by the time the log covers of it. A string when
 * there are no access lines (production writes its logs to stdout).
 */
export async function accessLogRateSeries(logDir: string, days: number, now: Date): Promise<AccessLogRate | string> {
  const end = now.getTime();
  const counts = new Array<number>(days).fill(0);
  let first = Number.POSITIVE_INFINITY;
  let seen = 0;
  const files = await forEachLogLine(logDir, "api", (line) => {
    const time = lineTime(line);
    if (time === undefined) return;
    first = Math.min(first, time);
    if (time > end || !isGatewayAccessLine(line)) return;
    const back = Math.floor((end - time) / DAY_MS);
    if (back >= days) return;
    counts[back]!++;
    seen++;
  });
  if (seen === 0) return `no gateway access lines in ${join(logDir, "api.log")} or its rotated files in the last ${days} days`;
  const points: Point[] = [];
  for (let back = days - 1; back >= 0; back--) {
    const windowEnd = end - back * DAY_MS;
    const covered = windowEnd - Math.max(windowEnd - DAY_MS, first);
    if (covered <= 0 || (covered < MIN_COVERED_MS && back > 0)) continue;
    points.push({ at: windowEnd, value: counts[back]! / (covered / 1000) });
  }
  return { points, files };
}
