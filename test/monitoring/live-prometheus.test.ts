import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { apiClient } from "../helpers/api.ts";
import { startChildPlatform, type ChildPlatform } from "../helpers/child-platform.ts";
import { freePort } from "../helpers/free-port.ts";
import { monitoringDir, readDashboards, readRules, startNodeExporter, startPrometheus, type AlertRule, type RecordingRule, type RunningServer } from "../helpers/monitoring.ts";
import { azora } from "../helpers/in-process-cli.ts";
import { exposedMetricNames, metricNames, withoutGrafanaVariables } from "../helpers/promql.ts";
import { toolAvailability } from "../helpers/tools.ts";
import { waitUntil } from "../helpers/wait.ts";

const prometheus = toolAvailability("prometheus", "prometheus");
const nodeExporter = toolAvailability("prometheus-node-exporter", "prometheus-node-exporter");

/** Every PromQL expression printed in the operations guide's "Key Metrics to Monitor", with the labels its answer must carry. */
const guideQueries: [expr: string, labels: string[]][] = [
  ["rate(http_requests_total[5m])", ["service", "method", "route", "status"]],
  ['rate(http_requests_total{status=~"5.."}[5m]) / rate(http_requests_total[5m])', ["service", "method", "route", "status"]],
  ["histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))", ["service", "method", "route"]],
  ["active_users_total", ["service"]],
  ["database_connections_active", ["service"]],
  ['100 - (avg by(instance) (irate(node_cpu_seconds_total{mode="idle"}[5m])) * 100)', ["instance"]],
  ["(node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes) / node_memory_MemTotal_bytes * 100", ["instance"]],
  ["(node_filesystem_avail_bytes / node_filesystem_size_bytes) * 100", ["instance", "mountpoint", "fstype"]],
  ["rate(node_network_receive_bytes_total[5m])", ["instance", "device"]],
  ["rate(node_network_transmit_bytes_total[5m])", ["instance", "device"]],
];

/** The labels each recording rule's answer carries. */
const recordedLabels: Record<string, string[]> = {
  "service:http_requests:rate5m": ["service"],
  "service:http_requests_errors:rate5m": ["service"],
  "service:http_requests_error_ratio:rate5m": ["service"],
  "service:http_request_duration_seconds:p95_5m": ["service"],
  "instance:database_connections:utilisation": ["service", "instance", "job"],
  "service:azora_login_failures:rate5m": ["service"],
  "service:azora_rate_limited:rate5m": ["service", "route_group"],
  "service:azora_cache_hit_ratio:rate5m": ["service"],
};

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe.skipIf(!prometheus.run || !nodeExporter.run)(`a real Prometheus scraping a running platform ${prometheus.reason} ${nodeExporter.reason}`, () => {
  let platform: ChildPlatform;
  let node: RunningServer;
  let server: RunningServer;
  let stoppedPort: number;

  const query = async (expr: string): Promise<{ status: string; error?: string; data?: { result: Sample[] } }> =>
    (await fetch(`${server.url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json() as Promise<any>;
  const samples = async (expr: string) => {
    const answer = await query(expr);
    if (answer.status !== "success") throw new Error(`${expr}: ${answer.error}`);
    return answer.data!.result;
  };

  beforeAll(async () => {
    // `azora up` as a real process; low limits on sign-in, so that the traffic below is refused with 429 too;
    // maintenance polled quickly.
    platform = await startChildPlatform({ via: "azora", env: { RATE_LIMIT_AUTH: "10", MAINTENANCE_POLL_MS: "100" } });
    node = await startNodeExporter();
    stoppedPort = await freePort();
    const ops = new URL(platform.opsUrl).host;
    // The shipped scrape config's shape: one job per source, a `service` label on every target, the platform's
    // own labels honoured; pointed at this machine, scraping every second. A target nobody answers is "users".
    const shipped = parse(await readFile(join(monitoringDir, "prometheus/prometheus.yml"), "utf8")) as any;
    const azoraJob = shipped.scrape_configs.find((job: any) => job.job_name === "azora");
    const config = {
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      rule_files: ["recording.yml", "alerts.yml"],
      scrape_configs: [
        { ...azoraJob, static_configs: [{ targets: [ops], labels: { service: "azora" } }, { targets: [`127.0.0.1:${stoppedPort}`], labels: { service: "users" } }] },
        { job_name: "node-exporter", static_configs: [{ targets: [new URL(node.url).host], labels: { service: "node-exporter" } }] },
      ],
    };
    server = await startPrometheus(stringify(config), ["rules/recording.yml", "rules/alerts.yml"]);

    const api = apiClient(platform.baseUrl);
    const user = await api.newUser("metrics");
    // Each round: reads (a cache miss then a hit), a write, a 404 and failed logins (3 per round on the auth budget).
    const traffic = async () => {
      await api.get("/api/auth/me", user.accessToken);
      await api.get(`/api/user/${user.id}`, user.accessToken);
      await api.get(`/api/user/${user.id}`, user.accessToken);
      await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "Hello", body: "First post" } });
      await api.get("/api/content", user.accessToken);
      await api.get("/api/nothing-here");
      for (let i = 0; i < 3; i++) await api.call("POST", "/api/auth/login", { json: { email: user.email, password: "wrong-password" } });
    };
    const scrapes = async () => Number((await samples('count_over_time(up{service="azora"}[5m])'))[0]?.value[1] ?? 0);
    await waitUntil(async () => ((await scrapes()) >= 1 ? true : undefined), "the first scrape", 30_000);
    await traffic();
    // 5xx answers: maintenance mode answers 503 on the API (the command runs inside the azora up).
    const cli = { DATA_DIR: platform.dataDir };
    expect((await azora(["maintenance", "on", "--message", "Monitoring test"], cli)).code).toBe(0);
    await waitUntil(async () => ((await api.get("/api/content")).status === 503 ? true : undefined), "maintenance mode");
    // More 503s after the next two scrapes, so that their rate is above zero.
    const during = await scrapes();
    await waitUntil(async () => ((await scrapes()) >= during + 2 ? true : undefined), "two scrapes in maintenance", 30_000);
    await api.get("/api/content");
    expect((await azora(["maintenance", "off"], cli)).code).toBe(0);
    await waitUntil(async () => ((await api.get("/api/nothing-here")).status !== 503 ? true : undefined), "the end of maintenance");
    const before = await scrapes();
    await waitUntil(async () => ((await scrapes()) >= before + 2 ? true : undefined), "two more scrapes", 30_000);
    await traffic();
    // 429s: register and login, then 6 failed logins, used 8 of the 10 sign-in attempts: 4 more are refused.
    for (let i = 0; i < 6; i++) await api.call("POST", "/api/auth/login", { json: { email: "nobody@example.com", password: "x" } });
    const after = await scrapes();
    await waitUntil(async () => ((await scrapes()) >= after + 3 ? true : undefined), "three more scrapes", 30_000);
  });
  afterAll(async () => {
    await server?.stop();
    await node?.stop();
    await platform?.dispose();
  });

  it.each(guideQueries)("the guide's %s returns data with the expected labels", async (expr, labels) => {
    const result = await samples(expr);
    expect(result.length, expr).toBeGreaterThan(0);
    for (const label of labels) expect(result.some((sample) => label in sample.metric), `${expr} has no ${label}`).toBe(true);
  });

  it("every recording rule returns data with its labels", async () => {
    const rules = await readRules<RecordingRule>("rules/recording.yml");
    expect(rules.map((rule) => rule.record).sort()).toEqual(Object.keys(recordedLabels).sort());
    for (const rule of rules) {
      const result = await waitUntil(async () => {
        const found = await samples(rule.record);
        return found.length > 0 ? found : undefined;
      }, `${rule.record} to have data`, 20_000);
      for (const label of recordedLabels[rule.record]!) expect(Object.keys(result[0]!.metric), rule.record).toContain(label);
    }
  });

  it("shows the guide's error rate wrong and the recorded one right on live data", async () => {
    // The guide divides the 503 series by itself: exactly 1, whatever the share of errors.
    const guide = (await samples('rate(http_requests_total{status=~"5.."}[5m]) / rate(http_requests_total[5m])'))
      .map((sample) => Number(sample.value[1]))
      .filter((value) => !Number.isNaN(value));
    expect(guide.length).toBeGreaterThan(0);
    expect(guide.every((value) => value === 1)).toBe(true);
    const gateway = (await samples('service:http_requests_error_ratio:rate5m{service="gateway"}'))[0];
    expect(Number(gateway?.value[1])).toBeGreaterThan(0);
    expect(Number(gateway?.value[1])).toBeLessThan(1);
  });

  it("a stopped target is ServiceDown, pending with its service's name in the summary", async () => {
    const alert = await waitUntil(async () => {
      const answer = (await (await fetch(`${server.url}/api/v1/alerts`)).json()) as { data: { alerts: any[] } };
      return answer.data.alerts.find((found) => found.labels.alertname === "ServiceDown");
    }, "ServiceDown to be pending", 20_000);
    expect(alert.state).toBe("pending");
    expect(alert.labels.service).toBe("users");
    expect(alert.annotations.summary).toBe("Service users is down");
  });

  it("every expression of the rules and dashboards parses and names only metrics that exist", async () => {
    const exposition = await (await fetch(`${platform.opsUrl}/metrics`)).text();
    const nodeExposition = await (await fetch(`${node.url}/metrics`)).text();
    const exporters = parse(await readFile(join(monitoringDir, "exporter-metrics.yml"), "utf8")) as Record<string, string[]>;
    const known = new Set([...exposedMetricNames(exposition), ...exposedMetricNames(nodeExposition), ...Object.values(exporters).flat()]);
    const expressions: [where: string, expr: string][] = [];
    for (const file of ["rules/recording.yml", "rules/alerts.yml"]) {
      for (const rule of await readRules<AlertRule & RecordingRule>(file)) {
        expressions.push([`${file} ${rule.alert ?? rule.record}`, rule.expr]);
        if (rule.record) known.add(rule.record);
      }
    }
    for (const { file, dashboard } of await readDashboards()) {
      for (const panel of dashboard.panels) for (const target of panel.targets) expressions.push([`${file} "${panel.title}"`, withoutGrafanaVariables(target.expr)]);
    }
    expect(expressions.length).toBeGreaterThan(40);
    const problems: string[] = [];
    for (const [where, expr] of expressions) {
      const answer = await query(expr);
      if (answer.status !== "success") problems.push(`${where}: ${answer.error}`);
      for (const name of metricNames(expr)) if (!known.has(name)) problems.push(`${where}: ${name} is neither exported nor listed in exporter-metrics.yml`);
    }
    expect(problems).toEqual([]);
  });
});
