import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { alertThresholds } from "./alert-thresholds.ts";
import { computeFigures, quantile } from "./figures.ts";
import type { Snapshot } from "./metric-history.ts";

const reading = (at: number, over: Partial<Snapshot> = {}): Snapshot => ({
  at,
  requests: {},
  errors: {},
  buckets: {},
  activeUsers: 0,
  dbActive: 0,
  dbMax: 10,
  loginFailures: 0,
  rateLimited: {},
  cacheHits: 0,
  cacheLookups: 0,
  breakers: {},
  ...over,
});

describe("ops dashboard figures", () => {
  it("hold the same thresholds, comparisons and `for` durations as the Prometheus alert rules", async () => {
    const file = resolve(import.meta.dirname, "../../../deployment/monitoring/prometheus/rules/alerts.yml");
    const rules = (parse(await readFile(file, "utf8")) as { groups: { rules: { alert: string; expr: string; for: string }[] }[] }).groups.flatMap((g) => g.rules);
    const seconds = (duration: string) => Number(duration.slice(0, -1)) * { s: 1, m: 60, h: 3600 }[duration.slice(-1) as "s" | "m" | "h"];
    for (const [name, local] of Object.entries(alertThresholds)) {
      const rule = rules.find((candidate) => candidate.alert === name);
      expect(rule, name).toBeDefined();
      // The first comparison with a number (BackupStale's second clause compares the same threshold).
      const [, op, threshold] = /(>|<|==)\s*(\d[\d.*\s]*)/.exec(rule!.expr)!;
      expect(op, name).toBe(local.op);
      expect(threshold!.trim().split("*").reduce((product, factor) => product * Number(factor), 1), name).toBe(local.threshold);
      expect(seconds(rule!.for), name).toBe(local.forSeconds);
    }
    expect(Object.keys(alertThresholds).sort()).toEqual(rules.map((rule) => rule.alert).filter((alert) => alert !== "ServiceDown").sort());
  });

  it("interpolates a quantile as histogram_quantile does (the promtool case's 4.85 s)", () => {
    expect(quantile(0.95, [[0.1, 0], [1, 0], [2, 0], [5, 60], [Infinity, 60]])).toBeCloseTo(4.85);
    expect(quantile(0.95, [[Infinity, 0]])).toBeNull();
  });

  it("computes rate, error ratio and p95 per service, and raises an alert pending, then firing after its `for`", () => {
    const readings: Snapshot[] = [];
    // 10 requests a second on gateway, 1 of them a 500 (9.1 %), every 10 s for 7 minutes.
    for (let i = 0; i <= 42; i++) {
      const t = i * 10;
      readings.push(reading(t * 1000, {
        requests: { gateway: 11 * t },
        errors: { gateway: t },
        buckets: { gateway: { "0.1": 11 * t, "+Inf": 11 * t } },
      }));
    }
    const early = computeFigures(readings.slice(0, 10), 90_000);
    expect(early.current.requestRate.gateway).toBeCloseTo(11);
    expect(early.current.errorRatio.gateway).toBeCloseTo(1 / 11);
    expect(early.current.p95Seconds.gateway).toBeCloseTo(0.095);
    expect(early.alerts).toMatchObject([{ alert: "HighErrorRate", subject: "gateway", state: "pending", severity: "critical" }]);
    const later = computeFigures(readings, 420_000);
    expect(later.alerts).toMatchObject([{ alert: "HighErrorRate", subject: "gateway", state: "firing" }]);
    expect(later.series.requestRate.gateway).toHaveLength(42);
  });

  it("raises BackupStale when no backup ever succeeded, once the process has run for 26 hours", () => {
    const day = 26 * 3600;
    // The process started at t=0; readings every 5 minutes from 26 h to 26 h 20 m, no backup series.
    const readings = [0, 5, 10, 15, 20].map((m) => reading((day + m * 60) * 1000, { processStartAt: 0, drillAt: day }));
    expect(computeFigures(readings.slice(0, 1), day * 1000).alerts).toEqual([]);
    expect(computeFigures(readings.slice(0, 2), (day + 300) * 1000).alerts).toMatchObject([{ alert: "BackupStale", subject: "never backed up", state: "pending" }]);
    expect(computeFigures(readings, (day + 1200) * 1000).alerts).toMatchObject([{ alert: "BackupStale", subject: "never backed up", state: "firing" }]);
    // A backup, even an old one, replaces the process clause with the backup's age.
    const backedUp = readings.map((one) => ({ ...one, backupAt: 3600 }));
    expect(computeFigures(backedUp, (day + 1200) * 1000).alerts).toEqual([]);
  });

  it("raises MailOutboxBacklog once a mail has waited over 10 minutes, firing 5 minutes later; a mail in flight raises nothing", () => {
    // Readings every minute from the mail's 8th to its 16th minute in the outbox (the gauge is its age in seconds).
    const readings = [8, 9, 10, 11, 12, 13, 14, 15, 16].map((m) => reading(m * 60_000, { drillAt: 1, mailOldestPendingSeconds: m * 60 }));
    expect(computeFigures(readings.slice(0, 3), 600_000).alerts).toEqual([]);
    expect(computeFigures(readings.slice(0, 4), 660_000).alerts).toMatchObject([{ alert: "MailOutboxBacklog", subject: "mail outbox", state: "pending", severity: "warning" }]);
    expect(computeFigures(readings.slice(0, 8), 900_000).alerts).toMatchObject([{ state: "pending" }]);
    expect(computeFigures(readings, 960_000).alerts).toMatchObject([{ alert: "MailOutboxBacklog", state: "firing", value: 960 }]);
    const inFlight = [0, 10, 20].map((s) => reading(s * 1000, { drillAt: 1, mailOldestPendingSeconds: 1 }));
    expect(computeFigures(inFlight, 20_000).alerts).toEqual([]);
  });

  it("is silent for a healthy platform and counts a pool of one as the pool", () => {
    const readings = [0, 10, 20].map((s) => reading(s * 1000, { requests: { users: s }, dbActive: 0, dbMax: 1, drillAt: 1 }));
    const figures = computeFigures(readings, 20_000);
    expect(figures.alerts).toEqual([]);
    expect(figures.current.dbConnectionsMax).toBe(1);
  });
});
