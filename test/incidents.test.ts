import { execFileSync } from "node:child_process";
import { appendFile, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "./helpers/backends.ts";
import { startChildPlatform, type ChildPlatform } from "./helpers/child-platform.ts";
import { repoRoot, runCli } from "./helpers/cli.ts";
import { freePort } from "./helpers/free-port.ts";
import { azora } from "./helpers/in-process-cli.ts";
import { startAlertingPrometheus } from "./helpers/monitoring.ts";
import { toolAvailability } from "./helpers/tools.ts";
import { waitUntil } from "./helpers/wait.ts";

// Planted where a careless line could carry them: the archive and the post-mortem must contain none.
const MASTER_KEY = "planted-master-key-0123456789abcdefghijklmnop";
const OPS_TOKEN = "planted-ops-token-0123456789abcdefghijklmnopq";
const PASSWORD = "planted-Password-hunter2!";
const TOKEN = "eyJplanted.access.token.abcdef123456";
const ENV_SECRET = "planted-env-smtp-password-42";

// The alert the drill fires and resolves in a real Prometheus while the incident is open.
const DRILL_ALERT = { name: "GatewayErrorBudgetDrill", labels: { severity: "critical", service: "gateway" } };
const prometheusTool = toolAvailability("prometheus", "prometheus");

interface StatusIncident {
  reference: string;
  status: string;
  message: string;
  updates: { status: string; message: string }[];
}

for (const backend of backends()) {
  describe(`azora incident (${backend.name})`, () => {
    let platform: ChildPlatform;
    let env: Record<string, string>;
    let dispose: () => Promise<void>;
    let work: string;
    let prometheus: Awaited<ReturnType<typeof startAlertingPrometheus>> | undefined;
    // The real `azora` binary for the drill's main steps; the rest through the same entry point in this
    // process (it relays to the running platform on the embedded default just the same), which saves a
    // Node start per call.
    const cli = (...args: string[]) => runCli(args, env);
    const inProcess = (...args: string[]) => azora(args, env);
    const openIncidents = async () => ((await (await fetch(`${platform.baseUrl}/status.json`)).json()) as { incidents: StatusIncident[] }).incidents;

    beforeAll(async () => {
      const provisioned = await backend.provision();
      dispose = provisioned.dispose;
      const alerting = prometheusTool.run ? startAlertingPrometheus(DRILL_ALERT) : undefined;
      alerting?.catch(() => undefined);
      platform = await startChildPlatform({ via: "azora", env: { ...provisioned.env, AZORA_MASTER_KEY: MASTER_KEY, AZORA_OPS_TOKEN: OPS_TOKEN, SMTP_PASSWORD: ENV_SECRET } });
      env = { ...provisioned.env, DATA_DIR: platform.dataDir, AZORA_MASTER_KEY: MASTER_KEY, AZORA_OPS_TOKEN: OPS_TOKEN, SMTP_PASSWORD: ENV_SECRET, OPS_PORT: new URL(platform.opsUrl).port };
      work = await mkdtemp(join(tmpdir(), "azora-incident-"));
      prometheus = await alerting;
    }, 600_000);
    afterAll(async () => {
      await prometheus?.stop();
      await platform?.dispose();
      await dispose?.();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it("declares with the guide's two messages, shows it on /status with its updates, and audits every step", async () => {
      const declared = await cli("incident", "declare", "--sev", "2", "--service", "gateway", "--impact", "40% of users affected", "--eta", "30m", "incident-2025-001");
      expect(declared.code, declared.stderr).toBe(0);
      expect(declared.stdout).toContain("🚨 INCIDENT DECLARED 🚨");
      expect(declared.stdout).toMatch(/Severity: SEV-2\nService: API Gateway\nStatus: Investigating\nImpact: 40% of users affected\nETA: 30 minutes\n\n#incident-2025-001/);
      expect(declared.stdout).toContain("We're experiencing some issues with our API Gateway service.");
      expect(declared.stdout).toMatch(/Status: 🔴 Degraded\nEstimated Resolution: 30 minutes/);

      const generated = await inProcess("incident", "declare", "--sev", "4", "--service", "users", "--impact", "Avatars load slowly", "--json");
      expect(generated.code, generated.stderr).toBe(0);
      expect(JSON.parse(generated.stdout).incident.reference).toMatch(new RegExp(`^incident-${new Date().getUTCFullYear()}-\\d{3}$`));

      const updated = await inProcess("incident", "update", "incident-2025-001", "--status", "identified", "--message", "A bad gateway config; rolling back");
      expect(updated.code, updated.stderr).toBe(0);
      const shown = JSON.parse((await inProcess("incident", "show", "incident-2025-001", "--json")).stdout).incident;
      expect(shown).toMatchObject({ reference: "incident-2025-001", severity: 2, service: "gateway", status: "identified", etaMinutes: 30, resolvedAt: null });
      expect(shown.updates.map((update: { status: string }) => update.status)).toEqual(["investigating", "identified"]);

      const listed = JSON.parse((await inProcess("incident", "list", "--json")).stdout).incidents.map((incident: { reference: string }) => incident.reference);
      expect(listed).toContain("incident-2025-001");
      expect(listed).toHaveLength(2);

      const onStatus = await waitUntil(async () => (await openIncidents()).find((incident) => incident.reference === "incident-2025-001" && incident.status === "identified"), "the update on /status.json");
      expect(onStatus.updates.map((update) => update.message)).toEqual(["40% of users affected", "A bad gateway config; rolling back"]);
      const html = await (await fetch(`${platform.baseUrl}/status`)).text();
      expect(html).toContain("incident-2025-001");
      expect(html).toContain("A bad gateway config; rolling back");
      expect(html).toContain("40% of users affected");

      const audit = JSON.parse((await inProcess("audit", "tail", "-n", "20", "--json")).stdout) as { action: string; target: string; occurredAt: string; details: Record<string, unknown> }[];
      const steps = audit.filter((row) => row.target === "incident:incident-2025-001");
      expect(steps.map((row) => row.action)).toEqual(["incident.declare", "incident.update"]);
      expect(steps[1]!.details).toMatchObject({ status: "identified", previousStatus: "investigating" });
      for (const row of steps) expect(Date.parse(row.occurredAt)).not.toBeNaN();
    }, 300_000);

    it("collects one archive for the window with checksums, metrics, health, breakers, config and git log, and no secret in it", async () => {
      // An alert fires and resolves while the incident is open (Prometheus is installed wherever CI runs).
      if (prometheus) {
        await prometheus.fire();
        await prometheus.clear();
      }
      // No deploy happens here: the drill with a real deploy and rollback (the local target, on PostgreSQL) is
      // test/incident-drill.test.ts, whose timeline holds the rows the deploy engine wrote while it deployed.

      // What a bug could write: a password field, a bearer token, the master key in a message.
      const at = new Date().toISOString();
      const planted = [
        { level: 30, time: at, msg: "login attempt", password: PASSWORD },
        { level: 50, time: at, msg: `upstream said Authorization: Bearer ${TOKEN}` },
        { level: 30, time: at, msg: `config dump master=${MASTER_KEY} ops=${OPS_TOKEN} smtp=${ENV_SECRET}` },
        { level: 30, time: "2020-01-01T00:00:00.000Z", msg: "long before the incident" },
      ];
      await appendFile(join(platform.dataDir, "logs", "api.log"), planted.map((line) => `${JSON.stringify(line)}\n`).join(""));
      // Security events of the window: a failed login the platform itself writes to auth.log, and a finding
      // of `azora security anomalies` in security.log (written as that command writes it).
      const login = await fetch(`${platform.baseUrl}/api/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: "nobody-drill@example.com", password: PASSWORD }) });
      expect(login.status).toBe(401);
      const authLog = join(platform.dataDir, "logs", "auth.log");
      await waitUntil(async () => ((await readFile(authLog, "utf8").catch(() => "")).includes('"event":"LOGIN_FAILED"') || undefined), "LOGIN_FAILED in auth.log");
      await appendFile(
        join(platform.dataDir, "logs", "security.log"),
        `${JSON.stringify({ level: 40, time: new Date().toISOString(), event: "SUSPICIOUS_ACTIVITY", detector: "credential_stuffing", ip: "203.0.113.9", accounts: 42, msg: "42 accounts tried from 203.0.113.9 in 10 minutes" })}\n`,
      );

      const archive = join(work, "bundle.tar.gz");
      const collected = await cli("incident", "collect-logs", "incident-2025-001", "--out", archive, "--json");
      expect(collected.code, collected.stderr).toBe(0);
      const manifest = JSON.parse(collected.stdout);
      expect(manifest.incident).toBe("incident-2025-001");

      const extracted = join(work, "extracted");
      execFileSync("mkdir", ["-p", extracted]);
      execFileSync("tar", ["-xzf", archive, "-C", extracted]);
      const dir = join(extracted, "incident-2025-001");
      const files = (await readdir(dir, { recursive: true })).map(String).sort();
      expect(files).toEqual(expect.arrayContaining(["SHA256SUMS", "audit.jsonl", "breakers.txt", "config.txt", "git-log.txt", "health.json", "incident.json", "logs/api.log", "manifest.json", "metrics.prom"]));
      expect(execFileSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: dir, encoding: "utf8" })).not.toMatch(/FAILED/);
      expect(files).not.toContain("deploys.json");
      expect(manifest.notes).toContain("deploys: no deploy or rollback is recorded in the audit log for the window");
      const apiLog = await readFile(join(dir, "logs/api.log"), "utf8");
      expect(apiLog).toContain("login attempt");
      expect(apiLog).not.toContain("long before the incident");
      expect(await readFile(join(dir, "metrics.prom"), "utf8")).toContain("http_requests_total");
      expect(await readFile(join(dir, "config.txt"), "utf8")).toMatch(/^AZORA_MASTER_KEY=\[redacted\]/m);
      expect(JSON.parse(await readFile(join(dir, "health.json"), "utf8")).status).toBeDefined();
      for (const secret of [MASTER_KEY, OPS_TOKEN, PASSWORD, TOKEN, ENV_SECRET]) {
        expect(() => execFileSync("grep", ["-r", "-F", "-l", secret, extracted], { encoding: "utf8" }), `${secret} is in the archive`).toThrow();
      }
    }, 300_000);

    it("writes the post-mortem with the guide's sections and the timeline in order; resolving takes it off /status", async () => {
      const resolved = await inProcess("incident", "resolve", "incident-2025-001", "--message", "Rolled back; error rate normal");
      expect(resolved.code, resolved.stderr).toBe(0);
      await waitUntil(async () => ((await openIncidents()).some((incident) => incident.reference === "incident-2025-001") ? undefined : true), "incident-2025-001 off /status.json");
      expect((await openIncidents()).map((incident) => incident.reference)).toHaveLength(1);
      // The resolution is audited like the other steps, with its time.
      const audit = JSON.parse((await inProcess("audit", "tail", "-n", "50", "--json")).stdout) as { action: string; target: string; occurredAt: string; details: Record<string, unknown> }[];
      const resolution = audit.filter((row) => row.target === "incident:incident-2025-001" && row.action === "incident.resolve");
      expect(resolution).toHaveLength(1);
      expect(resolution[0]!.details).toMatchObject({ status: "resolved", message: "Rolled back; error rate normal" });
      expect(Date.parse(resolution[0]!.occurredAt)).not.toBeNaN();

      const file = join(work, "postmortem.md");
      const written = await runCli(["incident", "postmortem", "incident-2025-001", "--out", file], { ...env, ...(prometheus ? { PROMETHEUS_URL: prometheus.url } : {}) });
      expect(written.code, written.stderr).toBe(0);
      const document = await readFile(file, "utf8");
      for (const section of ["## Timeline of events", "## Root cause analysis", "## Impact assessment", "## Lessons learned", "## Action items"]) expect(document).toContain(section);
      const declaredAt = document.indexOf("Declared, Investigating: 40% of users affected");
      const identifiedAt = document.indexOf("Identified: A bad gateway config; rolling back");
      const resolvedAt = document.indexOf("Resolved: Rolled back; error rate normal");
      expect(declaredAt).toBeGreaterThan(0);
      expect(identifiedAt).toBeGreaterThan(declaredAt);
      expect(resolvedAt).toBeGreaterThan(identifiedAt);
      if (prometheus) {
        // The alert of the window, from Prometheus's ALERTS series: fired and resolved after the update, before the resolution.
        // Its labels, the scrape's own (instance, job) among them, say which alert it was.
        const fired = document.search(/\| alert \| GatewayErrorBudgetDrill \(instance=127\.0\.0\.1:\d+, job=drill, service=gateway, severity=critical\) fired \|/);
        const cleared = document.search(/\| alert \| GatewayErrorBudgetDrill \(instance=127\.0\.0\.1:\d+, job=drill, service=gateway, severity=critical\) resolved \(last seen firing\) \|/);
        expect(fired, document).toBeGreaterThan(identifiedAt);
        expect(cleared).toBeGreaterThan(fired);
        expect(resolvedAt).toBeGreaterThan(cleared);
        expect(document).toContain('Alerts: Prometheus\'s `ALERTS{alertstate="firing"}` over the window (2 changes).');
      }
      // The window's security events: the failed login (auth.log) and the anomaly finding (security.log), after the update.
      const loginFailedAt = document.search(/\| security \| LOGIN_FAILED: login failed \(reason unknown_email\) \[auth\.log\] \|/);
      const suspiciousAt = document.search(/\| security \| SUSPICIOUS_ACTIVITY: 42 accounts tried from 203\.0\.113\.9 in 10 minutes \(detector credential_stuffing\) \[security\.log\] \|/);
      expect(loginFailedAt, document).toBeGreaterThan(identifiedAt);
      expect(suspiciousAt, document).toBeGreaterThan(loginFailedAt);
      expect(resolvedAt).toBeGreaterThan(suspiciousAt);
      expect(document).not.toContain("AUDIT_RECORDED");
      expect(document).not.toContain(PASSWORD);
      // The error line planted in the window is an event of the timeline, its token redacted.
      expect(document).toContain("upstream said Authorization: Bearer [redacted]");
      expect(document).not.toContain(TOKEN);
      expect(document).toContain("SEV-2 (High");

      // Without a Prometheus URL the document says the alerts are missing; with one that does not answer, it says that.
      const without = await inProcess("incident", "postmortem", "incident-2025-001");
      expect(without.code, without.stderr).toBe(0);
      expect(without.stdout).toContain("**Alerts are not in this timeline:** no Prometheus URL was given (`--prometheus-url` or `PROMETHEUS_URL`)");
      expect(without.stdout).not.toContain("| alert |");
      // A port nobody listens on (not port 1: fetch refuses that one as a "bad port" before connecting).
      const closed = await freePort();
      const unreachable = await inProcess("incident", "postmortem", "incident-2025-001", "--prometheus-url", `http://127.0.0.1:${closed}`);
      expect(unreachable.code, unreachable.stderr).toBe(0);
      expect(unreachable.stdout).toContain(`**Alerts are not in this timeline:** Prometheus at http://127.0.0.1:${closed} could not be asked for the alerts of the window (ECONNREFUSED)`);
      expect(unreachable.stderr).toContain("could not be asked");
    }, 300_000);

    it("refuses bad input with a message and a non-zero exit", async () => {
      const unknown = await inProcess("incident", "show", "incident-2025-999");
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain("No incident incident-2025-999");
      const empty = await inProcess("incident", "collect-logs", "incident-2025-001", "--since", "2020-01-02T00:00:00Z", "--until", "2020-01-03T00:00:00Z", "--out", join(work, "none.tar.gz"));
      expect(empty.code).toBe(1);
      expect(empty.stderr).toContain("No log lines between");
      const badSeverity = await inProcess("incident", "declare", "--sev", "5", "--service", "gateway", "--impact", "x");
      expect(badSeverity.code).toBe(2);
      expect(badSeverity.stderr).toContain("--sev takes 1, 2, 3 or 4");
      const badPrometheus = await inProcess("incident", "postmortem", "incident-2025-001", "--prometheus-url", "ftp://user:secret@prometheus");
      expect(badPrometheus.code).toBe(2);
      expect(badPrometheus.stderr).toContain("--prometheus-url (or PROMETHEUS_URL) is not an http(s) URL");
      expect(badPrometheus.stderr).not.toContain("secret");
      for (const args of [["show", "INC-42"], ["postmortem", "incident-25-1"], ["collect-logs", "../etc"], ["update", "nope", "--status", "monitoring", "--message", "m"]]) {
        const malformed = await inProcess("incident", ...args);
        expect(malformed.code, args.join(" ")).toBe(2);
        expect(malformed.stderr).toContain("is not an incident reference: they look like incident-2025-001");
      }
    }, 300_000);
  });
}

describe("./scripts/collect-incident-logs.sh", () => {
  it("is the guide's wrapper and answers --help", () => {
    expect(execFileSync(join(repoRoot, "scripts/collect-incident-logs.sh"), ["--help"], { encoding: "utf8" })).toContain("--since");
  });
});
