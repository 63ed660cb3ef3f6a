import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadGates, loadGatesFile, runPromqlAnalysis } from "../src/ops/deploy/promql-gates.ts";
import { apiClient } from "./helpers/api.ts";
import { startChildPlatform, type ChildPlatform } from "./helpers/child-platform.ts";
import { repoRoot } from "./helpers/cli.ts";
import { azora } from "./helpers/in-process-cli.ts";
import { kubectlStub, releaseRepo } from "./helpers/kubectl-stub.ts";
import { renderOverlay } from "./helpers/kubernetes.ts";
import { monitoringDir, startPrometheus, type RunningServer } from "./helpers/monitoring.ts";
import { toolAvailability } from "./helpers/tools.ts";
import { waitUntil } from "./helpers/wait.ts";

const prometheus = toolAvailability("prometheus", "prometheus");
const kubectl = toolAvailability("kubectl", "kubernetes-client");
const SLOW = 300_000;

// The deploy engine's analysis on Kubernetes: the shipped gates, queried from a real Prometheus that
// scrapes a running platform labelled as the `preview` track (as the kubernetes scrape job labels pods).
describe.skipIf(!prometheus.run)(`PromQL deploy gates against a real Prometheus ${prometheus.reason}`, () => {
  let platform: ChildPlatform;
  let server: RunningServer;
  let looping = true;
  let loop: Promise<void>;
  /** 5xx answers the trickle saw since the last reset, with when: a gate that reads above 0 names its cause. */
  let serverErrors: string[] = [];

  beforeAll(async () => {
    platform = await startChildPlatform({ via: "azora", env: { MAINTENANCE_POLL_MS: "100", RATE_LIMIT_READ: "0" } });
    const shipped = parse(await readFile(join(monitoringDir, "prometheus/prometheus.yml"), "utf8")) as any;
    const azoraJob = shipped.scrape_configs.find((job: any) => job.job_name === "azora");
    const config = {
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      scrape_configs: [{ ...azoraJob, static_configs: [{ targets: [new URL(platform.opsUrl).host], labels: { service: "azora", track: "preview" } }] }],
    };
    server = await startPrometheus(stringify(config), []);
    const api = apiClient(platform.baseUrl);
    const user = await api.newUser("gates");
    // A steady trickle of requests, as a release under analysis gets.
    loop = (async () => {
      while (looping) {
        const answer = await api.get(`/api/user/${user.id}`, user.accessToken).catch((error: Error) => ({ status: `error ${error.message}` }));
        if (typeof answer.status !== "number" || answer.status >= 500) serverErrors.push(`${new Date().toISOString()} ${answer.status}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const seen = async () => (await runPromqlAnalysis({ prometheusUrl: server.url, gates: await loadGates(), track: "preview", windowSeconds: 5 })).ok || undefined;
    await waitUntil(seen, "five seconds of scraped traffic", 60_000);
  }, SLOW);
  afterAll(async () => {
    looping = false;
    await loop;
    await server?.stop();
    await platform?.dispose();
  });

  it("passes a healthy release and reports each gate's values", async () => {
    const result = await runPromqlAnalysis({ prometheusUrl: server.url, gates: await loadGates(), track: "preview", windowSeconds: 5, measurements: 2, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) });
    expect(result).toEqual({ ok: true, summary: expect.stringMatching(/^gateway error share 0, 0 \(max 0\.01\); gateway p95 latency \(seconds\) [\d.e-]+, [\d.e-]+ \(max 2\)$/) });
  });

  it("fails a track no request reached: an empty result is never a pass", async () => {
    const result = await runPromqlAnalysis({ prometheusUrl: server.url, gates: await loadGates(), track: "stable", windowSeconds: 5 });
    expect(result).toEqual({ ok: false, reason: expect.stringContaining("gateway error share above 0.01 or without data (no data)") });
  });

  it("fails a release answering 5xx (maintenance mode's 503s), and a measurement within the failure budget passes", async () => {
    expect((await azora(["maintenance", "on", "--message", "Gate test"], { DATA_DIR: platform.dataDir })).code).toBe(0);
    try {
      const errorShare = (await loadGates()).filter((gate) => gate.name === "gateway error share");
      const failing = async () => {
        const result = await runPromqlAnalysis({ prometheusUrl: server.url, gates: errorShare, track: "preview", windowSeconds: 5 });
        return result.ok ? undefined : result;
      };
      expect(await waitUntil(failing, "the 503s to reach the gate", 30_000)).toEqual({ ok: false, reason: expect.stringMatching(/^gateway error share above 0\.01 or without data \((0\.\d+|1)\)$/) });
      // The same bad measurement, with a budget of one failure, passes.
      const budgeted = await runPromqlAnalysis({ prometheusUrl: server.url, gates: errorShare, track: "preview", windowSeconds: 5, failureLimit: 1 });
      expect(budgeted.ok).toBe(true);
    } finally {
      expect((await azora(["maintenance", "off"], { DATA_DIR: platform.dataDir })).code).toBe(0);
      // The 503s stay in the rate window for its length after maintenance ends: the next test's first analysis
      // (fast on a quick machine) would see their tail. Done only when the gate reads clean again.
      const clean = async () => {
        const result = await runPromqlAnalysis({ prometheusUrl: server.url, gates: await loadGates(), track: "preview", windowSeconds: 5 });
        return result.ok && /^gateway error share 0 /.test(result.summary) ? result : undefined;
      };
      await waitUntil(clean, "the gate to read no 5xx once maintenance is off", 60_000);
      serverErrors = [];
    }
  }, SLOW);

  // kubectl renders the overlay the stub serves; under CI a missing kubectl fails at the top (toolAvailability).
  it.runIf(kubectl.run)(`azora deploy on the kubernetes target with --prometheus-url gates each step on these queries ${kubectl.reason}`, async () => {
    const stub = kubectlStub(renderOverlay("staging"));
    const repo = releaseRepo(["v2.0.0"]);
    try {
      const run = (prometheusUrl: string) =>
        new Promise<{ code: number; stderr: string }>((resolve) => {
          const env = { PATH: `${stub.binDir}:${process.env.PATH}`, HOME: process.env.HOME ?? "/tmp", LOG_STDOUT: "false", ...stub.env, STUB_PORT_8080: new URL(platform.baseUrl).port, STUB_PORT_9090: new URL(platform.opsUrl).port };
          const args = ["staging", "v2.0.0", "--analysis-seconds", "5", "--keep-warm-seconds", "0", "--prometheus-url", prometheusUrl];
          execFile(join(repoRoot, "deployment", "blue-green-deploy.sh"), args, { cwd: repo.dir, env, timeout: 240_000 }, (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }));
        });
      serverErrors = [];
      const deployed = await run(server.url);
      // A non-zero error share below comes from these, if the trickle caused it (under load, an upstream timeout would show here).
      expect(serverErrors).toEqual([]);
      expect(deployed.stderr).toMatch(/smoke analysis: gateway error share 0 \(max 0\.01\); gateway p95 latency \(seconds\) [\d.e-]+ \(max 2\)/);
      expect(deployed.stderr).toMatch(/post-switch analysis: gateway error share 0 /);
      expect(deployed.code).toBe(0);
      const malformed = await run("prometheus:9090");
      expect(malformed).toEqual({ code: 2, stderr: expect.stringContaining('--prometheus-url "prometheus:9090" is not an http(s) URL') });
    } finally {
      stub.dispose();
      repo.dispose();
    }
  }, SLOW);

  it.runIf(kubectl.run)(`an automatic rollback that fails itself still leaves a deploy.rollback_failed audit row ${kubectl.reason}`, async () => {
    const stub = kubectlStub(renderOverlay("staging"));
    const repo = releaseRepo(["v2.0.0"]);
    try {
      // The preview gateway cannot be reached (its port-forward fails), and the Services cannot be switched back either.
      const env = { PATH: `${stub.binDir}:${process.env.PATH}`, HOME: process.env.HOME ?? "/tmp", LOG_STDOUT: "false", ...stub.env, DATA_DIR: platform.dataDir, STUB_FAIL: "^(port-forward|patch service)" };
      const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(join(repoRoot, "deployment", "blue-green-deploy.sh"), ["staging", "v2.0.0", "--analysis-seconds", "1", "--keep-warm-seconds", "0"], { cwd: repo.dir, env, timeout: 240_000 }, (error, _stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
        );
      });
      expect(result.stderr).toMatch(/Deploy of v2\.0\.0 failed at "start the preview track": kubectl port-forward deployment\/api-gateway-preview :8080 ended: stub: failing as asked/);
      expect(result.stderr).toMatch(/The rollback failed \(kubectl patch service auth-service .*stub: failing as asked\): traffic may still reach the new version\. Check `azora deploy status`/);
      expect(result.code).toBe(1);
      expect(JSON.parse(stub.object("ConfigMap", "azora-deploy-state")!.data!.state!)).toMatchObject({ phase: "rollback_failed", version: "v2.0.0", rollbackError: expect.stringContaining("stub: failing as asked") });
      const rows = JSON.parse((await azora(["audit", "tail", "-n", "20", "--json"], { DATA_DIR: platform.dataDir })).stdout) as { action: string; target: string; details: Record<string, unknown> }[];
      expect(rows.filter((row) => row.action.startsWith("deploy."))).toEqual([
        expect.objectContaining({
          action: "deploy.rollback_failed",
          target: "deploy:azora-staging",
          details: expect.objectContaining({ version: "v2.0.0", failedStep: "start the preview track", automatic: true, switchedBack: false, rollbackError: expect.stringContaining("stub: failing as asked") }),
        }),
      ]);
    } finally {
      stub.dispose();
      repo.dispose();
    }
  }, SLOW);

  it.runIf(kubectl.run)(`the failure budget is settable: --measurements and --failure-limit, or the gates file's ${kubectl.reason}`, async () => {
    const stub = kubectlStub(renderOverlay("staging"));
    const repo = releaseRepo(["v2.0.0"]);
    const dir = mkdtempSync(join(tmpdir(), "azora-gates-"));
    try {
      const deploy = (args: string[]) =>
        new Promise<{ code: number; stderr: string }>((resolve) => {
          const env = { PATH: `${stub.binDir}:${process.env.PATH}`, HOME: process.env.HOME ?? "/tmp", LOG_STDOUT: "false", ...stub.env };
          execFile(join(repoRoot, "deployment", "blue-green-deploy.sh"), ["staging", "v2.0.0", "--prometheus-url", server.url, "--dry-run", ...args], { cwd: repo.dir, env, timeout: 240_000 }, (error, _stdout, stderr) =>
            resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
          );
        });
      expect((await deploy(["--measurements", "3", "--failure-limit", "1"])).code).toBe(0);
      const tooLarge = await deploy(["--measurements", "2", "--failure-limit", "2"]);
      expect(tooLarge).toEqual({ code: 2, stderr: expect.stringContaining("give --failure-limit below --measurements") });
      const budgetFile = join(dir, "gates.yml");
      const shipped = parse(await readFile(join(monitoringDir, "prometheus/deploy-gates.yml"), "utf8"));
      writeFileSync(budgetFile, stringify({ ...shipped, measurements: 2, failureLimit: 2 }));
      expect(await deploy(["--gates", budgetFile])).toEqual({ code: 2, stderr: expect.stringMatching(/is not a gates file: failureLimit: failureLimit must be below measurements/) });
      writeFileSync(budgetFile, stringify({ ...shipped, measurements: 3, failureLimit: 1 }));
      expect((await loadGatesFile(budgetFile))).toMatchObject({ measurements: 3, failureLimit: 1 });
      expect((await deploy(["--gates", budgetFile])).code).toBe(0);
      const withoutPrometheus = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(join(repoRoot, "deployment", "blue-green-deploy.sh"), ["staging", "v2.0.0", "--failure-limit", "1", "--dry-run"], { cwd: repo.dir, env: { PATH: `${stub.binDir}:${process.env.PATH}`, HOME: process.env.HOME ?? "/tmp", ...stub.env }, timeout: 240_000 }, (error, _stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
        );
      });
      expect(withoutPrometheus).toEqual({ code: 2, stderr: expect.stringContaining("give --prometheus-url (or PROMETHEUS_URL) too") });
      // The budget as the analysis applies it: three measurements, each one failing a gate no value can pass.
      const errorShare = (await loadGates()).filter((gate) => gate.name === "gateway error share");
      const impossible = [{ ...errorShare[0]!, max: -1 }];
      const failing = await runPromqlAnalysis({ prometheusUrl: server.url, gates: impossible, track: "preview", windowSeconds: 3, measurements: 3, failureLimit: 2 });
      expect(failing).toEqual({ ok: false, reason: expect.stringMatching(/^gateway error share above -1 or without data \((?:[\d.e-]+|no data), (?:[\d.e-]+|no data), (?:[\d.e-]+|no data)\)$/) });
    } finally {
      stub.dispose();
      repo.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, SLOW);

  it("refuses a gate whose query returns several series, and names Prometheus's own error", async () => {
    await expect(runPromqlAnalysis({ prometheusUrl: server.url, gates: [{ name: "per route", query: "http_requests_total", max: 1 }], track: "preview", windowSeconds: 5 })).rejects.toThrow(/returns \d+ series; a gate needs one/);
    await expect(runPromqlAnalysis({ prometheusUrl: server.url, gates: [{ name: "broken", query: "sum(", max: 1 }], track: "preview", windowSeconds: 5 })).rejects.toThrow(/Prometheus refused the query \(400\): .*parse error/);
  });
});

// Debian's Prometheus has no Kubernetes discovery, so the Kubernetes scrape job is checked by structure:
// every pod it keeps carries the labels it turns into `service` and `track`.
describe("the Kubernetes scrape job", () => {
  it("keeps the platform's pods of both tracks and labels them with their service and track", async () => {
    const file = parse(await readFile(join(monitoringDir, "prometheus/kubernetes-scrape.yml"), "utf8")) as any;
    // The same job name as the static job it replaces: rules and dashboards select job="azora".
    const job = file.scrape_configs.find((entry: any) => entry.job_name === "azora");
    expect(job, "kubernetes-scrape.yml has no job named azora").toBeDefined();
    expect(job.honor_labels).toBe(true);
    const relabel = (target: string) => job.relabel_configs.find((rule: any) => rule.target_label === target)?.source_labels;
    expect(relabel("track")).toEqual(["__meta_kubernetes_pod_label_azora_os_track"]);
    expect(relabel("service")).toEqual(["__meta_kubernetes_pod_label_app_kubernetes_io_component"]);
    expect(job.relabel_configs[0]).toMatchObject({ action: "keep", regex: "azora-os;true" });
    const pods = renderOverlay("production").filter((object: any) => object.kind === "Deployment" && ["api-gateway", "auth-service", "user-service"].includes(object.metadata.name));
    expect(pods).toHaveLength(3);
    for (const deployment of pods) {
      const { labels, annotations } = deployment.spec.template.metadata;
      expect(labels).toMatchObject({ "app.kubernetes.io/part-of": "azora-os", "azora.os/track": "stable" });
      expect(["gateway", "auth", "users"]).toContain(labels["app.kubernetes.io/component"]);
      expect(annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/port": "9090" });
    }
  });
});
