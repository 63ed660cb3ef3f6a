import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRules, renderAlertmanagerConfig, runTool, startAlertmanager, startWebhookSink, type AlertRule, type RunningServer } from "../helpers/monitoring.ts";
import { toolAvailability } from "../helpers/tools.ts";
import { waitUntil } from "../helpers/wait.ts";

// The config is rendered with envsubst, as it is when deploying (docs/monitoring.md).
const envsubst = toolAvailability("envsubst", "gettext-base");
const amtool = toolAvailability("amtool", "prometheus-alertmanager");
const alertmanager = toolAvailability("prometheus-alertmanager", "prometheus-alertmanager");

/** Which receiver gets an alert with these labels: the routing table the suite holds the config to. */
const routes: [labels: Record<string, string>, receiver: string][] = [
  [{ alertname: "ServiceDown", severity: "critical", service: "auth" }, "pager"],
  [{ alertname: "HighErrorRate", severity: "critical", service: "gateway" }, "pager"],
  [{ alertname: "ServiceDown", severity: "critical", service: "azora" }, "pager"],
  [{ alertname: "BackupStale", severity: "critical", service: "backup" }, "pager"],
  [{ alertname: "BackupStale", severity: "critical", service: "backup", backup: "none" }, "pager"],
  [{ alertname: "RestoreDrillStale", severity: "warning", service: "backup" }, "chat"],
  [{ alertname: "LowDiskSpace", severity: "warning", instance: "node-1:9100" }, "chat"],
  [{ alertname: "LoginFailureSurge", severity: "warning", service: "auth" }, "chat"],
  [{ alertname: "MailOutboxBacklog", severity: "warning", service: "auth" }, "chat"],
  [{ alertname: "SomethingNew", service: "users" }, "chat"],
  [{ alertname: "SomethingNew", severity: "info" }, "chat"],
];

describe.skipIf(!amtool.run || !envsubst.run)(`Alertmanager config ${amtool.reason} ${envsubst.reason}`, () => {
  let dir: string;
  let configFile: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-amtool-"));
    configFile = join(dir, "alertmanager.yml");
    await writeFile(configFile, await renderAlertmanagerConfig({ pager: "https://pager.example/hook/secret", chat: "https://chat.example/hook/secret" }));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("amtool check-config accepts it once the webhook URLs are rendered in", async () => {
    const result = await runTool("amtool", ["check-config", configFile]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain("2 inhibit rules");
    expect(result.output).toContain("2 receivers");
    // Only the two named variables are replaced; the URLs are in, no placeholder is left.
    const { readFile } = await import("node:fs/promises");
    const text = await readFile(configFile, "utf8");
    expect(text).toContain('url: "https://pager.example/hook/secret"');
    expect(text).not.toContain("${");
  });

  it.each(routes)("routes %o to %s", async (labels, receiver) => {
    const args = Object.entries(labels).map(([name, value]) => `${name}=${value}`);
    const result = await runTool("amtool", ["config", "routes", "test", `--config.file=${configFile}`, `--verify.receivers=${receiver}`, ...args]);
    expect(result.code, result.output).toBe(0);
    expect(result.output.split("\n")[0]).toBe(receiver);
  });

  it("routes every shipped alert by its severity: critical pages, warning goes to chat", async () => {
    for (const rule of await readRules<AlertRule>("rules/alerts.yml")) {
      const expected = rule.labels?.severity === "critical" ? "pager" : "chat";
      const result = await runTool("amtool", ["config", "routes", "test", `--config.file=${configFile}`, `--verify.receivers=${expected}`, `alertname=${rule.alert}`, `severity=${rule.labels?.severity}`]);
      expect(result.code, `${rule.alert}: ${result.output}`).toBe(0);
    }
  });
});

describe.skipIf(!alertmanager.run || !envsubst.run)(`a real Alertmanager delivering to webhooks ${alertmanager.reason} ${envsubst.reason}`, () => {
  let sink: Awaited<ReturnType<typeof startWebhookSink>>;
  let server: RunningServer;
  beforeAll(async () => {
    sink = await startWebhookSink();
    // The shipped config, with group_wait shortened so the first notification leaves within the test.
    const config = await renderAlertmanagerConfig({ pager: `${sink.url}/pager`, chat: `${sink.url}/chat` }, { "group_wait: 30s": "group_wait: 1s" });
    server = await startAlertmanager(config);
  });
  afterAll(async () => {
    await server?.stop();
    await sink?.close();
  });

  const alert = (labels: Record<string, string>, summary: string) => ({ labels, annotations: { summary }, startsAt: new Date().toISOString() });

  it("pages a critical alert, sends a warning to chat, and ServiceDown inhibits HighErrorRate of the same service only", async () => {
    const response = await fetch(`${server.url}/api/v2/alerts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([
        alert({ alertname: "ServiceDown", severity: "critical", service: "auth" }, "Service auth is down"),
        alert({ alertname: "HighErrorRate", severity: "critical", service: "auth" }, "High error rate on auth"),
        alert({ alertname: "HighErrorRate", severity: "critical", service: "users" }, "High error rate on users"),
        alert({ alertname: "LowDiskSpace", severity: "warning", service: "node-exporter" }, "Low disk space on node-1:9100 /"),
      ]),
    });
    expect(response.status).toBe(200);

    // Grouped by service: one notification each for auth, users (pager) and node-exporter (chat).
    await waitUntil(async () => (sink.received.length >= 3 ? true : undefined), "three notifications", 30_000);
    const byGroup = new Map(sink.received.map(({ path, body }) => [`${path} ${body.groupLabels.service}`, body]));
    expect([...byGroup.keys()].sort()).toEqual(["/chat node-exporter", "/pager auth", "/pager users"]);
    const names = (body: any) => body.alerts.map((a: any) => `${a.labels.alertname}/${a.labels.service}`).sort();
    expect(names(byGroup.get("/pager auth"))).toEqual(["ServiceDown/auth"]);
    expect(names(byGroup.get("/pager users"))).toEqual(["HighErrorRate/users"]);
    expect(names(byGroup.get("/chat node-exporter"))).toEqual(["LowDiskSpace/node-exporter"]);
    expect(byGroup.get("/pager auth").alerts[0].annotations.summary).toBe("Service auth is down");
    expect(byGroup.get("/pager auth").receiver).toBe("pager");
    expect(byGroup.get("/chat node-exporter").receiver).toBe("chat");

    // Alertmanager itself says why HighErrorRate on auth was not sent.
    const alerts = (await (await fetch(`${server.url}/api/v2/alerts?filter=alertname%3D%22HighErrorRate%22`)).json()) as any[];
    const status = Object.fromEntries(alerts.map((a) => [a.labels.service, a.status]));
    expect(status.auth.state).toBe("suppressed");
    expect(status.auth.inhibitedBy).toHaveLength(1);
    expect(status.users.state).toBe("active");
    expect(sink.received.flatMap(({ body }) => names(body))).not.toContain("HighErrorRate/auth");
  });

  it("a down `azora up` (one target, service=\"azora\") silences HighErrorRate of the services it served, in its environment only", async () => {
    const response = await fetch(`${server.url}/api/v2/alerts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([
        alert({ alertname: "ServiceDown", severity: "critical", service: "azora", environment: "embedded" }, "Service azora is down"),
        alert({ alertname: "HighErrorRate", severity: "critical", service: "gateway", environment: "embedded" }, "High error rate on gateway"),
        alert({ alertname: "HighErrorRate", severity: "critical", service: "gateway", environment: "staging" }, "High error rate on gateway"),
      ]),
    });
    expect(response.status).toBe(200);
    await waitUntil(async () => (sink.received.some(({ body }) => body.groupLabels.service === "azora") ? true : undefined), "the azora notification", 30_000);
    const alerts = (await (await fetch(`${server.url}/api/v2/alerts?filter=alertname%3D%22HighErrorRate%22`)).json()) as any[];
    const state = (service: string, environment?: string) => alerts.find((a) => a.labels.service === service && a.labels.environment === environment)?.status.state;
    expect(state("gateway", "embedded")).toBe("suppressed");
    expect(state("gateway", "staging")).toBe("active");
    // The first case's alerts carry no environment: a down azora in "embedded" leaves them as they were.
    expect(state("users")).toBe("active");
    const sent = sink.received.flatMap(({ body }) => body.alerts.map((a: any) => `${a.labels.alertname}/${a.labels.service}/${a.labels.environment ?? ""}`));
    expect(sent).toContain("ServiceDown/azora/embedded");
    expect(sent).not.toContain("HighErrorRate/gateway/embedded");
  });
});
