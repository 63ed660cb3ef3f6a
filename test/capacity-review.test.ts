import { execFileSync } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closePlatform, openPlatform } from "../src/platform/context.ts";
import { backends } from "./helpers/backends.ts";
import { repoRoot } from "./helpers/cli.ts";
import { azora } from "./helpers/in-process-cli.ts";
import { startPrometheus } from "./helpers/monitoring.ts";
import { makeDataDir, testConfig } from "./helpers/platform.ts";
import { toolAvailability } from "./helpers/tools.ts";

const prometheusTool = toolAvailability("prometheus", "prometheus");

/**
 * The gateway's request counter over the 31 days before `end` (seconds), one sample an hour, as OpenMetrics
 * for promtool's backfill: day k of the review's 30 (the 24 hours ending (29 − k) days before `end`) serves
 * 100 + 10·k requests a second, 40 of them answered 500 and the rest 200; the day before the window, 100.
 */
function requestHistory(end: number): string {
  const HOUR = 3_600;
  let ok = 1_000_000;
  let failed = 1_000;
  let text = "# TYPE http_requests counter\n";
  for (let hour = -31 * 24; hour <= 0; hour++) {
    const at = end + hour * HOUR;
    text += `http_requests_total{service="gateway",status="200"} ${ok} ${at}\nhttp_requests_total{service="gateway",status="500"} ${failed} ${at}\n`;
    // The hour after this sample belongs to day 29 + ceil((hour + 1) / 24).
    const day = Math.max(0, 29 + Math.ceil((hour + 1) / 24));
    ok += (100 + 10 * day - 40) * HOUR;
    failed += 40 * HOUR;
  }
  return `${text}# EOF\n`;
}

/** 30 days of steady growth: 10 users, 2 pieces of content and 1,000 attachment bytes a day. */
async function seedGrowth(env: Record<string, string>) {
  const context = await openPlatform(testConfig(env), { migrate: true });
  try {
    const now = new Date().toISOString();
    await context.db.query(
      `INSERT INTO users (email, password_hash, created_at)
       SELECT 'growth' || g || '@example.com', 'x', $1::timestamptz - make_interval(days => 29 - (g - 1) / 10) FROM generate_series(1, 300) g`,
      [now],
    );
    await context.db.query(
      `INSERT INTO content (owner_id, title, created_at)
       SELECT (SELECT id FROM users ORDER BY email LIMIT 1), 'post', $1::timestamptz - make_interval(days => 29 - (g - 1) / 2) FROM generate_series(1, 60) g`,
      [now],
    );
    await context.db.query(
      `INSERT INTO attachments (content_id, owner_id, filename, content_type, size_bytes, sha256, created_at)
       SELECT (SELECT id FROM content LIMIT 1), (SELECT owner_id FROM content LIMIT 1), 'f.txt', 'text/plain', 1000, repeat('a', 64),
              $1::timestamptz - make_interval(days => 29 - (g - 1)) FROM generate_series(1, 30) g`,
      [now],
    );
  } finally {
    await closePlatform(context);
  }
}

for (const backend of backends()) {
  describe(`azora capacity review (${backend.name})`, () => {
    let env: Record<string, string>;
    let dispose: () => Promise<void>;
    let dataDir: string;
    beforeAll(async () => {
      dataDir = await makeDataDir();
      const provisioned = await backend.provision();
      dispose = provisioned.dispose;
      env = { DATA_DIR: dataDir, ...provisioned.env };
      await seedGrowth(env);
    }, 300_000);
    afterAll(async () => {
      await dispose?.();
      await rm(dataDir, { recursive: true, force: true });
    });

    it("projects users and attachment bytes linearly and counts the days until each limit", async () => {
      const result = await azora(["capacity", "review", "--json", "--limit", "users=1000", "--limit", "blobs=100k"], env);
      expect(result.code, result.stderr).toBe(0);
      const metrics = Object.fromEntries(JSON.parse(result.stdout).metrics.map((entry: { metric: string }) => [entry.metric, entry]));
      expect(metrics.users).toMatchObject({ current: 300, limit: 1000 });
      expect(metrics.users.perDay).toBeCloseTo(10, 6);
      expect(metrics.users.daysUntilLimit).toBeGreaterThanOrEqual(69);
      expect(metrics.users.daysUntilLimit).toBeLessThanOrEqual(70);
      expect(metrics.content.perDay).toBeCloseTo(2, 6);
      expect(metrics.blobs).toMatchObject({ current: 30_000, limit: 102_400 });
      expect(metrics.blobs.daysUntilLimit).toBeGreaterThanOrEqual(71);
      expect(metrics.blobs.daysUntilLimit).toBeLessThanOrEqual(72);
      expect(metrics.database.current).toBeGreaterThan(0);
      expect(metrics.requests.note).toContain("--prometheus");
      if (backend.name === "embedded") expect(metrics.storage.limit).toBeGreaterThan(metrics.storage.current);
      else expect(metrics.connections.limit).toBeGreaterThan(0);
    });

    it("projects the database size from the second review on; prints a table and an HTML page with an SVG chart", async () => {
      const table = await azora(["capacity", "review", "--limit", "users=1000"], env);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/^metric\s+current\s+growth\/day\s+limit\s+days until limit/m);
      expect(table.stdout).toMatch(/^users\s+300\s+10(\.0)?\s+1000\s+(69|70) days/m);
      const json = JSON.parse((await azora(["capacity", "review", "--json"], env)).stdout);
      expect(json.metrics.find((entry: { metric: string }) => entry.metric === "database").perDay).not.toBeNull();
      const html = await azora(["capacity", "review", "--html"], env);
      expect(html.code).toBe(0);
      expect(html.stdout).toMatch(/^<!doctype html>/);
      expect(html.stdout).toMatch(/<svg[^>]*>.*<polyline[^>]*points="[\d., ]+"><title>users<\/title>/s);
    });

    it.skipIf(!prometheusTool.run)(`projects the request rate against the HPA maximum times one replica's capacity ${prometheusTool.reason}`, async () => {
      // A real Prometheus holding 30 days of the gateway's http_requests_total: 100 req/s growing by 10 a day.
      const prometheus = await startPrometheus("global:\n  scrape_interval: 15s\n", [], { backfill: requestHistory(Math.floor(Date.now() / 1000)) });
      try {
        const hpa = await azora(["capacity", "review", "--json", "--prometheus", prometheus.url, "--replica-capacity", "50"], env);
        expect(hpa.code, hpa.stderr).toBe(0);
        const requests = JSON.parse(hpa.stdout).metrics.find((entry: { metric: string }) => entry.metric === "requests");
        // One point a day, each day's own rate: sum(rate(http_requests_total[1d])) over both series.
        expect(requests.points.map((point: { value: number }) => point.value)).toEqual(Array.from({ length: 30 }, (_, day) => 100 + 10 * day));
        // deployment/kubernetes/base/autoscaling.yaml: api-gateway scales to 20 replicas; 20 × 50 = 1000 req/s.
        expect(requests).toMatchObject({ current: 390, limit: 1000 });
        expect(requests.source).toContain(`from Prometheus at ${prometheus.url}`);
        expect(requests.note).toContain("HPA maximum 20 gateway replicas × 50 req/s");
        expect(requests.daysUntilLimit).toBeGreaterThanOrEqual(60);
        expect(requests.daysUntilLimit).toBeLessThanOrEqual(62);
        const without = JSON.parse((await azora(["capacity", "review", "--json", "--prometheus", prometheus.url], env)).stdout).metrics.find((entry: { metric: string }) => entry.metric === "requests");
        expect(without.limit).toBeNull();
        expect(without.note).toContain("give --replica-capacity");
      } finally {
        await prometheus.stop();
      }
    }, 300_000);

    it("says when Prometheus cannot be reached, and refuses bad input with exit 2", async () => {
      const unreachable = await azora(["capacity", "review", "--json", "--prometheus", "http://127.0.0.1:1"], env);
      expect(unreachable.code).toBe(0);
      const requests = JSON.parse(unreachable.stdout).metrics.find((entry: { metric: string }) => entry.metric === "requests");
      expect(requests).toMatchObject({ current: null });
      expect(requests.note).toMatch(/unreachable/);
      for (const [args, message] of [
        [["--limit", "bananas=3"], "the metric is one of"],
        [["--limit", "users=lots"], "must be a positive number"],
        [["--days", "1"], "--days takes"],
        [["--json", "--html"], "Choose one"],
        [["--replica-capacity", "fast"], "--replica-capacity takes"],
      ] as const) {
        const result = await azora(["capacity", "review", ...args], env);
        expect(result.code, args.join(" ")).toBe(2);
        expect(result.stderr).toContain(message);
      }
      expect(execFileSync(join(repoRoot, "scripts/capacity-review.sh"), ["--help"], { encoding: "utf8" })).toContain("--limit");
    });

    it("without Prometheus, takes the request rate from the gateway's access lines in api.log and its rotated files, and says so", async () => {
      // 30 days of access lines, 10 more each day (300 in the last 24 hours); the older half in a rotated file.
      const now = Date.now();
      const DAY = 86_400_000;
      const line = (at: number, fields: Record<string, unknown>) => `${JSON.stringify({ level: 30, time: new Date(at).toISOString(), ...fields })}\n`;
      let recent = "";
      let rotated = line(now - 31 * DAY, { msg: "the log begins" });
      for (let back = 0; back < 30; back++) {
        const at = now - back * DAY - 3_600_000;
        let lines = "";
        for (let n = 0; n < 10 * (30 - back); n++) lines += line(at, { service: "gateway", event: "http_request", route: "/api/user/:id", status: 200 });
        // Not requests the public was served: the users listener's loopback hop, the ops port's scrapes, other gateway lines.
        lines += line(at, { service: "users", event: "http_request" }) + line(at, { service: "ops", event: "http_request" }) + line(at, { service: "gateway", event: "maintenance_changed" });
        if (back < 15) recent += lines;
        else rotated += lines;
      }
      const logs = join(dataDir, "logs");
      await mkdir(logs, { recursive: true });
      await writeFile(join(logs, "api.log"), recent);
      await writeFile(join(logs, "api.log.20260101T000000Z.gz"), gzipSync(rotated));
      try {
        const result = await azora(["capacity", "review", "--json", "--limit", `requests=${600 / 86_400}`], env);
        expect(result.code, result.stderr).toBe(0);
        const requests = JSON.parse(result.stdout).metrics.find((entry: { metric: string }) => entry.metric === "requests");
        expect(requests.points).toHaveLength(30);
        expect(requests.current * 86_400).toBeCloseTo(300, 6);
        expect(requests.perDay * 86_400).toBeCloseTo(10, 6);
        expect(requests.daysUntilLimit).toBeGreaterThanOrEqual(29);
        expect(requests.daysUntilLimit).toBeLessThanOrEqual(30);
        expect(requests.source).toContain("from the gateway's access lines in");
        expect(requests.source).toContain("api.log.20260101T000000Z.gz");
        expect(requests.note).not.toContain("give --prometheus");
        const table = await azora(["capacity", "review"], env);
        expect(table.stdout).toMatch(/^note: requests: from the gateway's access lines in .*no Prometheus URL given/m);
      } finally {
        await rm(logs, { recursive: true, force: true });
      }
    });
  });
}
