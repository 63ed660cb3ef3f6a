import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Every metric of a process, declared in one place. The four un-prefixed names are fixed by the operations guide. */
export function createMetrics(options: { service: string; version: string; sources: MetricSources }) {
  const { sources } = options;
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const metrics = {
    registry,
    httpRequests: new Counter({
      name: "http_requests_total",
      help: "HTTP requests answered, by route template and status",
      labelNames: ["service", "method", "route", "status"] as const,
      registers,
    }),
    httpDuration: new Histogram({
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
  queryCount(): number;
  activeUsers(): Promise<number>;
}
