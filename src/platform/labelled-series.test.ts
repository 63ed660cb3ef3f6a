import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { SeriesCounter, SeriesHistogram } from "./labelled-series.ts";

const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];

/** The same metrics twice: prom-client's own, and ours, each in a registry with the same default labels. */
function pair() {
  const registries = [new Registry(), new Registry()];
  for (const registry of registries) registry.setDefaultLabels({ service: "gateway" });
  const [theirs, ours] = registries as [Registry, Registry];
  const counter = { name: "http_requests_total", help: "HTTP requests answered", labelNames: ["service", "method", "route", "status"] as const };
  const histogram = { name: "http_request_duration_seconds", help: "HTTP request duration", labelNames: ["service", "method", "route"] as const, buckets };
  return {
    theirs,
    ours,
    counters: [new Counter({ ...counter, registers: [theirs] }), new SeriesCounter({ ...counter, registers: [ours] })] as const,
    histograms: [new Histogram({ ...histogram, registers: [theirs] }), new SeriesHistogram({ ...histogram, registers: [ours] })] as const,
  };
}

/** Durations on, between and beyond the bounds, and a few label sets in an order that is not sorted. */
const observations: [string, string, string, number][] = [
  ["GET", "/api/user/:id", "200", 0.0031],
  ["GET", "/api/user/:id", "200", 0.005],
  ["POST", "/api/auth/login", "401", 0.2501],
  ["GET", "/api/user/:id", "304", 12.5],
  ["GET", "unmatched", "404", 0],
  ["GET", "/api/user/:id", "200", 1],
  ["DELETE", "/api/content/:id", "204", 0.0999],
  ["POST", "/api/auth/login", "401", 10],
];

async function bothTexts(record: (p: ReturnType<typeof pair>) => void) {
  const p = pair();
  record(p);
  return { theirs: await p.theirs.metrics(), ours: await p.ours.metrics(), json: [await p.theirs.getMetricsAsJSON(), await p.ours.getMetricsAsJSON()] };
}

describe("SeriesCounter and SeriesHistogram", () => {
  it("give /metrics and its JSON form exactly what prom-client's Counter and Histogram give for the same calls", async () => {
    const { theirs, ours, json } = await bothTexts(({ counters, histograms }) => {
      for (const [method, route, status, seconds] of observations) {
        for (const counter of counters) counter.labels({ service: "gateway", method, route, status }).inc();
        for (const histogram of histograms) histogram.labels({ service: "gateway", method, route }).observe(seconds);
      }
    });
    expect(ours).toContain('http_request_duration_seconds_bucket{le="0.005",service="gateway",method="GET",route="/api/user/:id"} 2');
    expect(ours).toBe(theirs);
    expect(json[1]).toEqual(json[0]);
  });

  it("keep children that were resolved once counting into the same series, and after reset() start the series anew", async () => {
    const { theirs, ours } = await bothTexts(({ counters, histograms, theirs: theirRegistry, ours: ourRegistry }) => {
      const countChildren = counters.map((counter) => counter.labels({ service: "users", method: "GET", route: "/api/user/:id", status: "200" }));
      const timeChildren = histograms.map((histogram) => histogram.labels({ service: "users", method: "GET", route: "/api/user/:id" }));
      for (let index = 0; index < 5; index++) {
        for (const child of countChildren) child.inc();
        for (const child of timeChildren) child.observe(index / 100);
      }
      theirRegistry.resetMetrics();
      ourRegistry.resetMetrics();
      // A child made before the reset writes a fresh series, placed after one that appeared since.
      for (const counter of counters) counter.labels({ service: "users", method: "PATCH", route: "/api/user/:id", status: "200" }).inc(2);
      for (const child of countChildren) child.inc();
      for (const child of timeChildren) child.observe(0.3);
    });
    expect(ours).toContain('http_requests_total{service="users",method="GET",route="/api/user/:id",status="200"} 1');
    expect(ours).toBe(theirs);
  });

  it("refuse what prom-client refuses: an unknown label, a negative increment, a value that is not a number", () => {
    const { counters, histograms } = pair();
    const ourCounter = counters[1];
    const ourHistogram = histograms[1];
    expect(() => ourCounter.labels({ service: "gateway", method: "GET", route: "/", status: "200", colour: "blue" } as never)).toThrow(/not included/);
    expect(() => ourCounter.labels({ service: "gateway", method: "GET", route: "/", status: "200" }).inc(-1)).toThrow();
    expect(() => ourHistogram.labels({ service: "gateway", method: "GET", route: "/" }).observe(Number.NaN)).toThrow(TypeError);
  });
});
