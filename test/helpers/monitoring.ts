import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { freePort } from "./free-port.ts";
import { waitUntil } from "./wait.ts";

export const monitoringDir = resolve(import.meta.dirname, "../../deployment/monitoring");
export const prometheusDir = join(monitoringDir, "prometheus");
export const alertmanagerConfig = join(monitoringDir, "alertmanager", "alertmanager.yml");
export const grafanaDir = join(monitoringDir, "grafana");
export const runbooksDir = resolve(import.meta.dirname, "../../docs/runbooks");

const execFileAsync = promisify(execFile);

/** Runs a tool and returns its exit code and output instead of throwing on a non-zero exit. */
export async function runTool(command: string, args: string[], options: { cwd?: string } = {}): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { cwd: options.cwd ?? prometheusDir, timeout: 120_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : 1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface RecordingRule {
  record: string;
  expr: string;
}

/** The rules of one rule file, in file order. */
export async function readRules<T = AlertRule | RecordingRule>(file: string): Promise<T[]> {
  const doc = parse(await readFile(join(prometheusDir, file), "utf8")) as { groups: { rules: T[] }[] };
  return doc.groups.flatMap((group) => group.rules);
}

/**
 * Alertmanager's config rendered the way docs/monitoring.md renders it: envsubst, naming only the two
 * webhook variables, with the URLs in its environment.
 */
export async function renderAlertmanagerConfig(urls: { pager: string; chat: string }, overrides: Record<string, string> = {}): Promise<string> {
  const rendered = spawnSync("envsubst", ["$AZORA_PAGER_WEBHOOK_URL $AZORA_CHAT_WEBHOOK_URL"], {
    input: await readFile(alertmanagerConfig, "utf8"),
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", AZORA_PAGER_WEBHOOK_URL: urls.pager, AZORA_CHAT_WEBHOOK_URL: urls.chat },
  });
  if (rendered.status !== 0) throw new Error(`envsubst failed: ${rendered.stderr}`);
  let text = rendered.stdout;
  for (const [from, to] of Object.entries(overrides)) {
    if (!text.includes(from)) throw new Error(`alertmanager.yml has no "${from}" to override`);
    text = text.replace(from, to);
  }
  return text;
}

/** A real HTTP server that records every JSON body posted to it, by path. */
export async function startWebhookSink(): Promise<{ url: string; received: { path: string; body: any }[]; close(): Promise<void> }> {
  const received: { path: string; body: any }[] = [];
  const server: Server = createServer((request, response) => {
    let text = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (text += chunk));
    request.on("end", () => {
      received.push({ path: request.url ?? "", body: JSON.parse(text || "null") });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

/** A server binary run for a test: its own temp dir, loopback only, stopped (and its dir removed) by stop(). */
export interface RunningServer {
  url: string;
  dir: string;
  output(): string;
  stop(): Promise<void>;
}

async function startServer(command: string, args: (port: number, dir: string) => string[], ready: string, dir: string): Promise<RunningServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(command, args(port, dir), { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => {
      if (child.exitCode !== null) throw new Error(`${command} exited: ${output}`);
      return (await fetch(`${url}${ready}`).then((response) => response.ok).catch(() => false)) || undefined;
    }, `${command} to answer`, 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, dir, output: () => output, stop };
}

/** Debian's Alertmanager on loopback: its own storage, no cluster listener. */
export async function startAlertmanager(configText: string): Promise<RunningServer> {
  const dir = await mkdtemp(join(tmpdir(), "azora-alertmanager-"));
  await writeFile(join(dir, "alertmanager.yml"), configText);
  return startServer(
    "prometheus-alertmanager",
    (port, dir) => [
      `--config.file=${join(dir, "alertmanager.yml")}`,
      `--storage.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--cluster.listen-address=",
    ],
    "/-/ready",
    dir,
  );
}

/**
 * Debian's Prometheus on loopback with the given config (rule files are copied beside it). With `backfill`
 * (OpenMetrics text, timestamps in seconds, ending in `# EOF`), its storage starts with those samples:
 * `promtool tsdb create-blocks-from openmetrics` writes them as blocks before the server starts, and the
 * retention is long enough (400 days) that none of them is dropped as too old.
 */
export async function startPrometheus(configText: string, ruleFiles: string[], options: { backfill?: string } = {}): Promise<RunningServer> {
  const dir = await mkdtemp(join(tmpdir(), "azora-prometheus-"));
  await writeFile(join(dir, "prometheus.yml"), configText);
  for (const file of ruleFiles) await writeFile(join(dir, file.split("/").pop()!), await readFile(join(prometheusDir, file)));
  if (options.backfill !== undefined) {
    await writeFile(join(dir, "backfill.om"), options.backfill);
    // One block per 31 days (the flag is hidden in promtool's --help): no pile of 2-hour blocks to compact at startup.
    const created = await runTool("promtool", ["tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=744h", "--quiet", join(dir, "backfill.om"), join(dir, "data")], { cwd: dir });
    if (created.code !== 0) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`promtool could not backfill: ${created.output}`);
    }
  }
  return startServer(
    "prometheus",
    (port, dir) => [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      ...(options.backfill !== undefined ? ["--storage.tsdb.retention.time=400d"] : []),
      `--web.listen-address=127.0.0.1:${port}`,
      "--web.enable-lifecycle",
    ],
    "/-/ready",
    dir,
  );
}

/** Debian's node exporter on loopback. */
export async function startNodeExporter(): Promise<RunningServer> {
  const dir = await mkdtemp(join(tmpdir(), "azora-node-exporter-"));
  return startServer("prometheus-node-exporter", (port) => [`--web.listen-address=127.0.0.1:${port}`], "/metrics", dir);
}

/** The Grafana dashboards as parsed JSON, by file name. */
export async function readDashboards(): Promise<{ file: string; dashboard: any }[]> {
  const files = (await readdir(grafanaDir)).filter((file) => file.endsWith(".json")).sort();
  return Promise.all(files.map(async (file) => ({ file, dashboard: JSON.parse(await readFile(join(grafanaDir, file), "utf8")) })));
}

/**
 * A real Prometheus that scrapes one gauge this test sets, with one alert rule on it (no `for`, evaluated
 * every second): `fire()` sets the gauge and waits until Prometheus reports the alert firing, `clear()`
 * until it reports none. For suites that need alerts in Prometheus's ALERTS series at a time they choose.
 */
export async function startAlertingPrometheus(alert: { name: string; labels: Record<string, string> }): Promise<{ url: string; fire(): Promise<void>; clear(): Promise<void>; stop(): Promise<void> }> {
  let value = 0;
  const target: Server = createServer((_request, response) => response.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(`# TYPE azora_test_alert_condition gauge\nazora_test_alert_condition ${value}\n`));
  await new Promise<void>((done) => target.listen(0, "127.0.0.1", done));
  const address = target.address();
  const rules = await mkdtemp(join(tmpdir(), "azora-alert-rule-"));
  const ruleFile = join(rules, "drill.yml");
  await writeFile(ruleFile, stringify({ groups: [{ name: "drill", rules: [{ alert: alert.name, expr: "azora_test_alert_condition > 0", labels: alert.labels }] }] }));
  const config = {
    global: { scrape_interval: "1s", evaluation_interval: "1s" },
    rule_files: [ruleFile],
    scrape_configs: [{ job_name: "drill", static_configs: [{ targets: [`127.0.0.1:${typeof address === "object" && address ? address.port : 0}`] }] }],
  };
  const closeTarget = () => new Promise<void>((done) => target.close(() => done()));
  let server: RunningServer;
  try {
    server = await startPrometheus(stringify(config), []);
  } catch (error) {
    await closeTarget();
    await rm(rules, { recursive: true, force: true });
    throw error;
  }
  const firing = async () => ((await (await fetch(`${server.url}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } }).data.alerts.filter((found) => found.labels.alertname === alert.name && found.state === "firing").length;
  return {
    url: server.url,
    async fire() {
      value = 1;
      await waitUntil(async () => ((await firing()) > 0 ? true : undefined), `${alert.name} to fire`, 60_000);
    },
    async clear() {
      value = 0;
      await waitUntil(async () => ((await firing()) === 0 ? true : undefined), `${alert.name} to resolve`, 60_000);
    },
    async stop() {
      await server.stop();
      await closeTarget();
      await rm(rules, { recursive: true, force: true });
    },
  };
}
