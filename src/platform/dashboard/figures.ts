import { alertThresholds, crosses, type AlertName } from "./alert-thresholds.ts";
import type { Snapshot } from "./metric-history.ts";

/** The guide's key metrics over the buffered hour, the current values, and the alerts they raise. */
export interface Figures {
  generatedAt: string;
  sampleCount: number;
  services: string[];
  /** One point per reading after the first: rates between consecutive readings, gauges as read. */
  series: {
    at: number[];
    requestRate: Record<string, number[]>;
    errorRatio: Record<string, (number | null)[]>;
    p95Seconds: Record<string, (number | null)[]>;
    activeUsers: number[];
    dbConnections: number[];
    loginFailureRate: number[];
    cacheHitRatio: (number | null)[];
  };
  /** Over the last 5 minutes (what the alert rules read). */
  current: {
    requestRate: Record<string, number>;
    errorRatio: Record<string, number | null>;
    p95Seconds: Record<string, number | null>;
    activeUsers: number;
    dbConnections: number;
    dbConnectionsMax: number;
    loginFailureRate: number;
    rateLimitedRate: Record<string, number>;
    cacheHitRatio: number | null;
    diskFreeRatio: number | null;
    backupAgeSeconds: number | null;
    drillAgeSeconds: number | null;
  };
  alerts: { alert: AlertName; severity: "critical" | "warning"; state: "pending" | "firing"; subject: string; value: number }[];
}

const RATE_WINDOW_MS = 300_000;

/** Computes the figures from the readings (oldest first), the way the recording and alert rules do. */
export function computeFigures(snapshots: Snapshot[], now: number): Figures {
  const last = snapshots.at(-1);
  const services = [...new Set(snapshots.flatMap((snapshot) => Object.keys(snapshot.requests)))].sort();
  const series: Figures["series"] = { at: [], requestRate: {}, errorRatio: {}, p95Seconds: {}, activeUsers: [], dbConnections: [], loginFailureRate: [], cacheHitRatio: [] };
  for (const service of services) {
    series.requestRate[service] = [];
    series.errorRatio[service] = [];
    series.p95Seconds[service] = [];
  }
  for (let i = 1; i < snapshots.length; i++) {
    const [from, to] = [snapshots[i - 1]!, snapshots[i]!];
    const window = between(from, to);
    series.at.push(to.at);
    for (const service of services) {
      series.requestRate[service]!.push(window.requestRate(service));
      series.errorRatio[service]!.push(window.errorRatio(service));
      series.p95Seconds[service]!.push(window.p95(service));
    }
    series.activeUsers.push(to.activeUsers);
    series.dbConnections.push(to.dbActive);
    series.loginFailureRate.push(window.loginFailureRate());
    series.cacheHitRatio.push(window.cacheHitRatio());
  }

  const current = last ? currentAt(snapshots, snapshots.length - 1, now) : undefined;
  return {
    generatedAt: new Date(now).toISOString(),
    sampleCount: snapshots.length,
    services,
    series,
    current: current ?? emptyCurrent(),
    alerts: evaluateAlerts(snapshots, now),
  };
}

function currentAt(snapshots: Snapshot[], index: number, now: number): Figures["current"] {
  const to = snapshots[index]!;
  const from = snapshots.findLast((snapshot) => snapshot.at <= to.at - RATE_WINDOW_MS) ?? snapshots[0]!;
  const window = between(from, to);
  const services = Object.keys(to.requests);
  const perService = <T>(value: (service: string) => T) => Object.fromEntries(services.map((service) => [service, value(service)]));
  return {
    requestRate: perService(window.requestRate),
    errorRatio: perService(window.errorRatio),
    p95Seconds: perService(window.p95),
    activeUsers: to.activeUsers,
    dbConnections: to.dbActive,
    dbConnectionsMax: to.dbMax,
    loginFailureRate: window.loginFailureRate(),
    rateLimitedRate: Object.fromEntries(Object.keys(to.rateLimited).map((group) => [group, window.rateLimitedRate(group)])),
    cacheHitRatio: window.cacheHitRatio(),
    diskFreeRatio: to.diskFreeRatio ?? null,
    backupAgeSeconds: to.backupAt === undefined ? null : now / 1000 - to.backupAt,
    // The drill gauge reads 0 until a drill has passed once: "never", not 56 years.
    drillAgeSeconds: !to.drillAt ? null : now / 1000 - to.drillAt,
  };
}

/** Rates and ratios between two readings, as rate()/histogram_quantile() give them over that window. */
function between(from: Snapshot, to: Snapshot) {
  const seconds = Math.max((to.at - from.at) / 1000, 1e-9);
  const delta = (a: number | undefined, b: number | undefined) => Math.max((b ?? 0) - (a ?? 0), 0);
  return {
    requestRate: (service: string) => delta(from.requests[service], to.requests[service]) / seconds,
    errorRatio: (service: string) => {
      const total = delta(from.requests[service], to.requests[service]);
      return total === 0 ? null : delta(from.errors[service], to.errors[service]) / total;
    },
    p95: (service: string) => {
      const bounds = to.buckets[service] ?? {};
      const counts = Object.entries(bounds).map(([le, count]) => [le === "+Inf" ? Infinity : Number(le), delta(from.buckets[service]?.[le], count)] as const);
      return quantile(0.95, counts);
    },
    loginFailureRate: () => delta(from.loginFailures, to.loginFailures) / seconds,
    rateLimitedRate: (group: string) => delta(from.rateLimited[group], to.rateLimited[group]) / seconds,
    cacheHitRatio: () => {
      const lookups = delta(from.cacheLookups, to.cacheLookups);
      return lookups === 0 ? null : delta(from.cacheHits, to.cacheHits) / lookups;
    },
  };
}

/** histogram_quantile's linear interpolation within the bucket that holds the rank. */
export function quantile(q: number, buckets: (readonly [number, number])[]): number | null {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let [lowerBound, lowerCount] = [0, 0];
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return lowerBound;
      return lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / Math.max(count - lowerCount, 1e-9);
    }
    [lowerBound, lowerCount] = [bound, count];
  }
  return lowerBound;
}

/** The alert conditions at one reading: each alert's subject (service, upstream…) and value. */
function conditionsAt(snapshots: Snapshot[], index: number, now: number): { alert: AlertName; subject: string; value: number }[] {
  const current = currentAt(snapshots, index, now);
  const at = snapshots[index]!;
  const found: { alert: AlertName; subject: string; value: number }[] = [];
  const check = (alert: AlertName, subject: string, value: number | null | undefined) => {
    if (crosses(alert, value)) found.push({ alert, subject, value: value! });
  };
  for (const [service, ratio] of Object.entries(current.errorRatio)) check("HighErrorRate", service, ratio);
  for (const [service, p95] of Object.entries(current.p95Seconds)) check("HighResponseTime", service, p95);
  check("DatabaseConnectionsHigh", "database", current.dbConnectionsMax > 0 ? current.dbConnections / current.dbConnectionsMax : null);
  check("LowDiskSpace", "DATA_DIR", current.diskFreeRatio);
  // Ages are taken at the reading's own time, so a pending backup alert ages with the readings.
  // No backup at all is stale too, once the process has run for the threshold (the rule's second clause).
  if (at.backupAt !== undefined) check("BackupStale", "backups", at.at / 1000 - at.backupAt);
  else check("BackupStale", "never backed up", at.processStartAt === undefined ? null : at.at / 1000 - at.processStartAt);
  // Never drilled (the gauge reads 0) is stale, as the Prometheus rule reads it.
  check("RestoreDrillStale", at.drillAt === 0 ? "never drilled" : "restore drills", at.drillAt === undefined ? null : at.at / 1000 - at.drillAt);
  for (const [upstream, state] of Object.entries(at.breakers)) check("CircuitBreakerOpen", upstream, state);
  for (const [group, rate] of Object.entries(current.rateLimitedRate)) check("RateLimitSurge", group, rate);
  check("LoginFailureSurge", "auth", current.loginFailureRate);
  check("MailOutboxBacklog", "mail outbox", at.mailOldestPendingSeconds);
  return found;
}

/** Pending when the condition holds now; firing when it has held at every reading for the alert's `for`. */
function evaluateAlerts(snapshots: Snapshot[], now: number): Figures["alerts"] {
  if (snapshots.length === 0) return [];
  const lastIndex = snapshots.length - 1;
  const alerts: Figures["alerts"] = [];
  for (const condition of conditionsAt(snapshots, lastIndex, now)) {
    const rule = alertThresholds[condition.alert];
    const since = snapshots[lastIndex]!.at - rule.forSeconds * 1000;
    let held = snapshots[0]!.at <= since;
    for (let i = lastIndex - 1; held && i >= 0 && snapshots[i]!.at >= since; i--) {
      held = conditionsAt(snapshots, i, now).some((other) => other.alert === condition.alert && other.subject === condition.subject);
    }
    alerts.push({ ...condition, severity: rule.severity, state: held ? "firing" : "pending" });
  }
  return alerts;
}

function emptyCurrent(): Figures["current"] {
  return { requestRate: {}, errorRatio: {}, p95Seconds: {}, activeUsers: 0, dbConnections: 0, dbConnectionsMax: 0, loginFailureRate: 0, rateLimitedRate: {}, cacheHitRatio: null, diskFreeRatio: null, backupAgeSeconds: null, drillAgeSeconds: null };
}
