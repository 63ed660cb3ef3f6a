import { statfs } from "node:fs/promises";
import { z } from "zod";
import type { PlatformCommand } from "../../platform/command.ts";
import { connections, dailyTotals, databaseBytes } from "./capacity.repository.ts";
import { appendSnapshot, readSnapshots, series } from "./history.ts";
import { DEFAULT_HPA_FILE, gatewayMaxReplicas } from "./hpa.ts";
import { accessLogRateSeries } from "./access-log.ts";
import { requestRateSeries } from "./prometheus.ts";
import { project, type Point } from "./projection.ts";
import { renderHtml, renderTable, type MetricReport } from "./render.ts";
import { CAPACITY_METRICS } from "./metrics.ts";

const args = z.object({
  days: z.number().int().min(2).max(365).default(30),
  limits: z.partialRecord(z.enum(CAPACITY_METRICS), z.number().positive()).default({}),
  prometheus: z.string().url().optional(),
  /** Requests a second one gateway replica serves: with the HPA maximum, the request rate's limit. */
  replicaCapacity: z.number().positive().optional(),
  hpaFile: z.string().optional(),
  format: z.enum(["table", "json", "html"]).default("table"),
});

const metric = (name: string, unit: MetricReport["unit"], points: Point[], current: number, limit: number | undefined, note?: string): MetricReport => ({
  metric: name,
  unit,
  points,
  ...project(points, current, limit),
  ...(note ? { note } : {}),
});

/**
 * The daily request rate and where it came from: Prometheus when a URL is given (PROMETHEUS_URL or
 * --prometheus), otherwise the gateway's access lines in api.log and its rotated files; a sentence
 * saying why when neither has it.
 */
async function requestRate(prometheus: string | undefined, logDir: string, days: number, now: Date): Promise<{ rate: Point[] | string; source: string }> {
  if (prometheus) {
    const origin = new URL(prometheus).origin;
    return { rate: await requestRateSeries(prometheus, days, now), source: `from Prometheus at ${origin} (sum(rate(http_requests_total[1d])))` };
  }
  const fromLogs = await accessLogRateSeries(logDir, days, now);
  if (typeof fromLogs === "string") return { rate: `not measured: give --prometheus URL (or PROMETHEUS_URL); ${fromLogs}`, source: "none" };
  return { rate: fromLogs.points, source: `from the gateway's access lines in ${logDir} (${fromLogs.files.join(", ")}), no Prometheus URL given` };
}

/**
 * `azora capacity review`: growth of users, content, database and attachment bytes, connections and
 * request rate; a linear trend (least squares over the window) and the days until each limit.
 */
export const capacityReviewCommand: PlatformCommand<z.input<typeof args>> = {
  name: "capacity review",
  async run(context, rawArgs, io) {
    const { days, limits, prometheus, format, replicaCapacity, hpaFile } = args.parse(rawArgs);
    const { db, config } = context;
    const now = new Date(context.clock.now());
    const totals = await dailyTotals(db, days, now);
    const dbBytes = await databaseBytes(db);
    const inUse = await connections(db);
    const history = [...(await readSnapshots(config.paths.state)), { at: now.getTime(), dbBytes, ...(inUse ? { connections: inUse.used } : {}) }];
    const last = (points: Point[]) => points.at(-1)?.value ?? 0;
    const dbPoints = series(history, (snapshot) => snapshot.dbBytes);
    const reports: MetricReport[] = [
      metric("users", "count", totals.users, last(totals.users), limits.users),
      metric("content", "count", totals.content, last(totals.content), limits.content),
      metric("database", "bytes", dbPoints, dbBytes, limits.database, dbPoints.length < 2 ? "its size is recorded at each review: the trend needs a second review" : undefined),
      metric("blobs", "bytes", totals.blobBytes, last(totals.blobBytes), limits.blobs),
    ];
    if (!config.database.url) {
      // Embedded: the database and local attachments share DATA_DIR's disk, whose free space is the limit.
      const disk = await statfs(config.dataDir);
      const storage = dbBytes + last(totals.blobBytes);
      const storagePoints = totals.blobBytes.map((point) => ({ at: point.at, value: point.value + dbBytes }));
      reports.push(metric("storage", "bytes", storagePoints, storage, limits.storage ?? storage + disk.bavail * disk.bsize, "database and attachments against the free space of DATA_DIR's disk"));
    }
    if (inUse) {
      reports.push(metric("connections", "connections", series(history, (snapshot) => snapshot.connections), inUse.used, limits.connections ?? inUse.max));
    }
    const { rate, source } = await requestRate(prometheus, config.paths.logs, days, now);
    // The gateway scales out to its HPA's maxReplicas and no further: that many replicas at the measured
    // capacity of one is the most the platform serves, unless --limit requests says otherwise.
    const maxReplicas = await gatewayMaxReplicas(hpaFile ?? DEFAULT_HPA_FILE);
    const hpaLimit = typeof maxReplicas === "number" && replicaCapacity ? maxReplicas * replicaCapacity : undefined;
    const requestsLimit = limits.requests ?? hpaLimit;
    const hpaNote =
      limits.requests !== undefined ? undefined
      : typeof maxReplicas === "string" ? maxReplicas
      : hpaLimit !== undefined ? `limit: HPA maximum ${maxReplicas} gateway replicas × ${replicaCapacity} req/s each`
      : `HPA maximum ${maxReplicas} gateway replicas: give --replica-capacity (req/s one replica serves) to project against it`;
    if (typeof rate === "string") reports.push({ ...metric("requests", "req/s", [], 0, requestsLimit, hpaNote ? `${rate}; ${hpaNote}` : rate), current: Number.NaN, source });
    else reports.push({ ...metric("requests", "req/s", rate, last(rate), requestsLimit, hpaNote ? `${source}; ${hpaNote}` : source), source });
    await appendSnapshot(config.paths.state, history.at(-1) ?? { at: now.getTime(), dbBytes });

    if (format === "json") {
      const clean = reports.map((report) => ({ ...report, current: Number.isNaN(report.current) ? null : report.current, perDay: report.perDay ?? null, limit: report.limit ?? null, daysUntilLimit: report.daysUntilLimit ?? null }));
      io.out(JSON.stringify({ generatedAt: now.toISOString(), days, metrics: clean }));
    } else if (format === "html") io.out(renderHtml(reports, now));
    else io.out(renderTable(reports));
    return 0;
  },
};
