import type { Registry } from "prom-client";

/** One reading of the registry: cumulative counters and current gauges, keyed for the figures. */
export interface Snapshot {
  at: number;
  /** Requests answered, and 5xx answers, by service (cumulative). */
  requests: Record<string, number>;
  errors: Record<string, number>;
  /** Duration buckets by service, then by upper bound (cumulative). */
  buckets: Record<string, Record<string, number>>;
  activeUsers: number;
  dbActive: number;
  dbMax: number;
  loginFailures: number;
  rateLimited: Record<string, number>;
  cacheHits: number;
  cacheLookups: number;
  breakers: Record<string, number>;
  backupAt?: number;
  drillAt?: number;
  /** When this process started (Unix seconds): BackupStale's "no backup ever" waits 26 hours of running. */
  processStartAt?: number;
  /** Seconds the oldest mail waiting in the outbox has waited, any kind (MailOutboxBacklog); absent when none waits. */
  mailOldestPendingSeconds?: number;
  /** Free share of the data directory's filesystem (LowDiskSpace without a node exporter). */
  diskFreeRatio?: number;
}

export interface MetricHistory {
  /** Readings, oldest first, at most an hour's worth. */
  snapshots(): Snapshot[];
  /** Takes a reading now (the timer does this every interval). */
  sample(): Promise<void>;
  start(): void;
  stop(): void;
}

interface MetricJson {
  name: string;
  values: { labels: Partial<Record<string, string | number>>; value: number; metricName?: string }[];
}

/**
 * An in-process ring buffer of the guide's key metrics, read from this process's own registry every
 * `intervalMs` (10 s): the embedded default has no Prometheus, and the ops dashboard and `azora metrics`
 * draw the last hour from it.
 */
export function createMetricHistory(options: { registry: Registry; intervalMs: number; now?: () => number; windowMs?: number; diskFreeRatio?: () => Promise<number> }): MetricHistory {
  const now = options.now ?? Date.now;
  // One reading more than the window needs: readings are stamped after the registry is read, so their spacing
  // jitters around the interval, and an alert whose `for` is the whole window (RestoreDrillStale: 1 h) needs
  // its oldest reading at least that far back to ever be "firing".
  const capacity = Math.ceil((options.windowMs ?? 3_600_000) / options.intervalMs) + 2;
  const ring: Snapshot[] = [];
  let timer: NodeJS.Timeout | undefined;

  const sample = async () => {
    const metrics = (await options.registry.getMetricsAsJSON()) as unknown as MetricJson[];
    const snapshot = snapshotOf(metrics, now());
    const free = await options.diskFreeRatio?.().catch(() => undefined);
    if (free !== undefined) snapshot.diskFreeRatio = free;
    ring.push(snapshot);
    if (ring.length > capacity) ring.shift();
  };
  return {
    snapshots: () => [...ring],
    sample,
    start() {
      if (timer) return;
      void sample().catch(() => undefined);
      // A reading that fails (a collect callback throwing) is skipped; the next one tries again.
      timer = setInterval(() => void sample().catch(() => undefined), options.intervalMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}

function snapshotOf(metrics: MetricJson[], at: number): Snapshot {
  const byName = new Map(metrics.map((metric) => [metric.name, metric.values]));
  const values = (name: string) => byName.get(name) ?? [];
  const sum = (name: string, keep: (labels: Partial<Record<string, string | number>>) => boolean = () => true) =>
    values(name).filter((value) => keep(value.labels)).reduce((total, value) => total + value.value, 0);
  const snapshot: Snapshot = {
    at,
    requests: {},
    errors: {},
    buckets: {},
    activeUsers: sum("active_users_total"),
    dbActive: sum("database_connections_active"),
    dbMax: sum("database_connections_max"),
    loginFailures: sum("azora_login_failures_total"),
    rateLimited: {},
    cacheHits: sum("azora_cache_requests_total", (labels) => labels.result === "hit"),
    cacheLookups: sum("azora_cache_requests_total"),
    breakers: {},
  };
  for (const { labels, value } of values("http_requests_total")) {
    const service = String(labels.service);
    snapshot.requests[service] = (snapshot.requests[service] ?? 0) + value;
    if (String(labels.status).startsWith("5")) snapshot.errors[service] = (snapshot.errors[service] ?? 0) + value;
  }
  for (const { labels, value, metricName } of values("http_request_duration_seconds")) {
    if (metricName !== "http_request_duration_seconds_bucket") continue;
    const service = String(labels.service);
    const bounds = (snapshot.buckets[service] ??= {});
    bounds[String(labels.le)] = (bounds[String(labels.le)] ?? 0) + value;
  }
  for (const { labels, value } of values("azora_rate_limited_total")) snapshot.rateLimited[String(labels.route_group)] = value;
  for (const { labels, value } of values("azora_circuit_breaker_state")) snapshot.breakers[String(labels.upstream)] = value;
  const newest = (name: string, keep: (labels: Partial<Record<string, string | number>>) => boolean = () => true) => {
    const kept = values(name).filter((value) => keep(value.labels));
    return kept.length > 0 ? Math.max(...kept.map((value) => value.value)) : undefined;
  };
  // The database kinds only, as BackupStale reads them: config and content backups have their own kinds.
  const backupAt = newest("azora_backup_last_success_timestamp_seconds", (labels) => labels.kind !== "config" && labels.kind !== "content");
  const drillAt = newest("azora_backup_drill_last_success_timestamp_seconds");
  if (backupAt !== undefined) snapshot.backupAt = backupAt;
  if (drillAt !== undefined) snapshot.drillAt = drillAt;
  const processStartAt = newest("process_start_time_seconds");
  if (processStartAt !== undefined) snapshot.processStartAt = processStartAt;
  const mailOldest = newest("azora_mail_outbox_oldest_pending_seconds");
  if (mailOldest !== undefined) snapshot.mailOldestPendingSeconds = mailOldest;
  return snapshot;
}
