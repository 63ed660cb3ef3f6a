import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { SeriesCounter, SeriesHistogram } from "./labelled-series.ts";

/**
 * Every metric of a process, declared in one place. The four un-prefixed names are fixed by the operations
 * guide; database_connections_max sits beside database_connections_active without the prefix because the
 * connection alert divides one by the other (the monitoring issue names it so). Everything else is azora_*.
 */
export function createMetrics(options: { service: string; version: string; sources: MetricSources }) {
  const { sources } = options;
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const metrics = {
    registry,
    // Written on every request: children resolved once (labelled-series.ts), same output as prom-client's.
    httpRequests: new SeriesCounter({
      name: "http_requests_total",
      help: "HTTP requests answered, by route template and status",
      labelNames: ["service", "method", "route", "status"] as const,
      registers,
    }),
    httpDuration: new SeriesHistogram({
      name: "http_request_duration_seconds",
      help: "HTTP request duration in seconds, by route template",
      labelNames: ["service", "method", "route"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers,
    }),
    activeUsers: new Gauge({
      name: "active_users_total",
      help: "Distinct users with an authenticated request in the last 15 minutes",
      registers,
      async collect() {
        try {
          this.set(await sources.activeUsers());
        } catch {
          // Keep the last value when the cache is unreachable; /health reports the cache itself.
        }
      },
    }),
    dbConnections: new Gauge({
      name: "database_connections_active",
      help: "Database connections in use",
      registers,
      collect() {
        this.set(sources.activeConnections());
      },
    }),
    dbConnectionsMax: new Gauge({
      name: "database_connections_max",
      help: "Database connections this process may hold (pool size): database_connections_active is read against it",
      registers,
      collect() {
        this.set(sources.maxConnections());
      },
    }),
    loginFailures: new Counter({
      name: "azora_login_failures_total",
      help: "Failed logins (every LOGIN_FAILED line of auth.log), by reason",
      labelNames: ["service", "reason"] as const,
      registers,
    }),
    dbQueries: new Counter({
      name: "azora_db_queries_total",
      help: "Database statements run by this process",
      registers,
      collect() {
        // Mirrors the database's own running count: reset and re-add keeps the counter monotonic.
        this.reset();
        this.inc(sources.queryCount());
      },
    }),
    cacheRequests: new Counter({
      name: "azora_cache_requests_total",
      help: "Cache-aside lookups, by cache and result",
      labelNames: ["cache", "result"] as const,
      registers,
    }),
    upstreamErrors: new Counter({
      name: "azora_upstream_errors_total",
      help: "Gateway requests that failed to reach an upstream",
      labelNames: ["upstream", "reason"] as const,
      registers,
    }),
    backupLastSuccess: new Gauge({
      name: "azora_backup_last_success_timestamp_seconds",
      help: "When the newest complete backup of each kind was taken (Unix seconds)",
      labelNames: ["kind"] as const,
      registers,
      async collect() {
        await setBackupGauges(sources, (status) => {
          this.reset();
          for (const backup of status.latest) this.set({ kind: backup.kind }, backup.takenAt);
        });
      },
    }),
    backupSize: new Gauge({
      name: "azora_backup_size_bytes",
      help: "Size of the newest complete backup of each kind",
      labelNames: ["kind"] as const,
      registers,
      async collect() {
        await setBackupGauges(sources, (status) => {
          this.reset();
          for (const backup of status.latest) this.set({ kind: backup.kind }, backup.sizeBytes);
        });
      },
    }),
    backupDuration: new Gauge({
      name: "azora_backup_duration_seconds",
      help: "How long the newest complete backup of each kind took",
      labelNames: ["kind"] as const,
      registers,
      async collect() {
        await setBackupGauges(sources, (status) => {
          this.reset();
          for (const backup of status.latest) this.set({ kind: backup.kind }, backup.durationSeconds);
        });
      },
    }),
    backupDrillLastSuccess: new Gauge({
      name: "azora_backup_drill_last_success_timestamp_seconds",
      help: "When a restore drill last proved a backup (Unix seconds)",
      registers,
      async collect() {
        await setBackupGauges(sources, (status) => {
          this.reset();
          if (status.drillSucceededAt !== undefined) this.set(status.drillSucceededAt);
        });
      },
    }),
    rateLimited: new Counter({
      name: "azora_rate_limited_total",
      help: "Requests the gateway refused with 429, by route group",
      labelNames: ["route_group"] as const,
      registers,
    }),
    refreshTokensPurged: new Counter({
      name: "azora_refresh_tokens_purged_total",
      help: "Expired and revoked refresh tokens deleted by the scheduled purge",
      registers,
    }),
    // The outbox is one table shared by every auth replica: each reports the same waiting mails (alerts take max,
    // not sum). Deliveries are counted by the replica that attempted them (sum them).
    mailOutboxPending: new Gauge({
      name: "azora_mail_outbox_pending",
      help: "Mails waiting in the outbox (not sent, not given up), by kind",
      labelNames: ["kind"] as const,
      registers,
      async collect() {
        await setMailGauges(sources, (waiting) => {
          this.reset();
          for (const mails of waiting) this.set({ kind: mails.kind }, mails.pending);
        });
      },
    }),
    mailOutboxOldest: new Gauge({
      name: "azora_mail_outbox_oldest_pending_seconds",
      help: "How long the oldest mail waiting in the outbox has waited, by kind (no series when none waits)",
      labelNames: ["kind"] as const,
      registers,
      async collect() {
        await setMailGauges(sources, (waiting) => {
          this.reset();
          for (const mails of waiting) if (mails.oldestAgeSeconds !== undefined) this.set({ kind: mails.kind }, mails.oldestAgeSeconds);
        });
      },
    }),
    mailDeliveries: new Counter({
      name: "azora_mail_deliveries_total",
      help: "Outbox delivery attempts by kind and outcome: sent, retried (failed, tried again later), given_up (failed for the last time), skipped (account gone or disabled)",
      labelNames: ["kind", "outcome"] as const,
      registers,
    }),
    circuitBreakerState: new Gauge({
      name: "azora_circuit_breaker_state",
      help: "Circuit breaker per upstream: 0 closed, 1 half-open, 2 open",
      labelNames: ["upstream"] as const,
      registers,
    }),
    upstreamRequests: new SeriesCounter({
      name: "azora_upstream_requests_total",
      help: "Gateway requests forwarded per upstream and release colour (blue, green, or configured when no traffic route), by answer class",
      labelNames: ["upstream", "colour", "status_class"] as const,
      registers,
    }),
    upstreamRetries: new Counter({
      name: "azora_upstream_retries_total",
      help: "Idempotent requests the gateway sent again after a connection error",
      labelNames: ["upstream"] as const,
      registers,
    }),
    logWriteErrors: new Counter({
      name: "azora_log_write_errors_total",
      help: "Log writes that failed (lines dropped), by log stream",
      labelNames: ["log"] as const,
      registers,
      collect() {
        // Mirrors the logs' own running counts, as azora_db_queries_total does.
        this.reset();
        for (const [log, count] of Object.entries(sources.logWriteErrors?.() ?? {})) this.inc({ log }, count);
      },
    }),
    buildInfo: new Gauge({
      name: "azora_build_info",
      help: "Always 1; the version label says what runs",
      labelNames: ["version"] as const,
      registers,
    }),
  };
  metrics.buildInfo.set({ version: options.version }, 1);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Sources sampled at scrape time, so the hot path does no metric work for them. */
export interface MetricSources {
  activeConnections(): number;
  maxConnections(): number;
  queryCount(): number;
  activeUsers(): Promise<number>;
  /** The backup store as it is now (read from the backups' manifests, so backups taken by any process count). */
  backupStatus?(): Promise<BackupStatus>;
  /** Mails waiting in the outbox, by kind (processes that run the auth service). */
  mailOutbox?(): Promise<{ kind: string; pending: number; oldestAgeSeconds: number | undefined }[]>;
  /** Failed log writes since start, by stream. */
  logWriteErrors?(): Record<string, number>;
}

/** The newest complete backup of each kind, and the last successful restore drill. */
export interface BackupStatus {
  latest: { kind: string; takenAt: number; sizeBytes: number; durationSeconds: number }[];
  drillSucceededAt?: number;
}

async function setBackupGauges(sources: MetricSources, apply: (status: BackupStatus) => void): Promise<void> {
  if (!sources.backupStatus) return;
  try {
    apply(await sources.backupStatus());
  } catch {
    // Keep the last values when the store cannot be read; the freshness alert fires on its own.
  }
}

async function setMailGauges(sources: MetricSources, apply: (waiting: Awaited<ReturnType<NonNullable<MetricSources["mailOutbox"]>>>) => void): Promise<void> {
  if (!sources.mailOutbox) return;
  try {
    apply(await sources.mailOutbox());
  } catch {
    // Keep the last values when the database cannot be read; /health reports the database itself.
  }
}
