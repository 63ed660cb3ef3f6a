// The incident drill of issue 11: declare → a deploy and a rollback happen → collect-logs → the post-mortem shows
// the timeline in order with the deploy, the rollback and the alert of the window; /status shows the incident
// while it is open and not after it is resolved. The deploy and the rollback are real: the guide's scripts on
// the local target (a packed release started as a process set of `azora serve`, traffic routes switched and
// switched back), so the timeline's deploy rows are the ones the engine wrote while it deployed. The local
// target moves the routes of split-mode gateways, which share PostgreSQL: the drill runs on that backend.
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { repoRoot, runCli, spawnCli, type RunningCli } from "./helpers/cli.ts";
import { startAlertingPrometheus } from "./helpers/monitoring.ts";
import { splitModeEnv } from "./helpers/platform.ts";
import { packRelease } from "./helpers/release.ts";
import { toolAvailability } from "./helpers/tools.ts";
import { waitUntil } from "./helpers/wait.ts";

const exec = promisify(execFile);
const postgres = backends().find((backend) => backend.name === "postgres+redis");
const prometheusTool = toolAvailability("prometheus", "prometheus");
const SLOW = 600_000;
const INCIDENT = "incident-2026-042";
const DRILL_ALERT = { name: "GatewayErrorRateDrill", labels: { severity: "critical", service: "gateway" } };

describe.runIf(postgres)("incident drill with a real deploy and rollback on the local target", () => {
  const processes: RunningCli[] = [];
  let env: Record<string, string>;
  let dispose: () => Promise<void> = async () => undefined;
  let gatewayUrl = "";
  let gatewayOps = "";
  let work = "";
  let release = "";
  let userPath = "";
  let token = "";
  let stopTraffic: (() => Promise<number>) | undefined;
  let prometheus: Awaited<ReturnType<typeof startAlertingPrometheus>> | undefined;

  /** Starts one of the operator's split-mode services; its public and ops URLs. */
  const serve = async (service: string) => {
    const run = spawnCli(["serve", service], env);
    processes.push(run);
    const [, url = ""] = await run.waitFor(/(?:API|Auth|Users):\s+(http:\/\/\S+)/);
    const [, ops = ""] = await run.waitFor(/Ops:\s+(http:\/\/\S+)/);
    return { url, ops };
  };
  const script = (name: string, args: string[]) =>
    exec(join(repoRoot, "deployment", name), args, { cwd: repoRoot, env: { ...env, PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" }, timeout: 400_000 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: number; stdout: string; stderr: string }) => ({ code: Number(error.code ?? 1), stdout: error.stdout, stderr: error.stderr }),
    );
  const cli = (...args: string[]) => runCli(args, env);
  /** The public's requests through the operator's gateway while the drill runs: the deploy's analysis judges the new version on them. */
  const traffic = () => {
    let running = true;
    let answered = 0;
    const done = Promise.all(
      [userPath, userPath, "/api/auth/me"].map(async (path) => {
        while (running) {
          await fetch(new URL(path, gatewayUrl), { headers: { authorization: `Bearer ${token}` } }).then((response) => response.arrayBuffer(), () => undefined);
          answered++;
        }
      }),
    );
    return async () => {
      running = false;
      await done;
      return answered;
    };
  };
  const onStatus = async () => ((await (await fetch(`${gatewayUrl}/status.json`)).json()) as { incidents: { reference: string; status: string }[] }).incidents;

  beforeAll(async () => {
    const provisioned = await postgres!.provision();
    dispose = provisioned.dispose;
    const alerting = prometheusTool.run ? startAlertingPrometheus(DRILL_ALERT) : undefined;
    alerting?.catch(() => undefined);
    env = await splitModeEnv(provisioned.env, "incident-drill", { LOG_STDOUT: "false", AZORA_DEPLOY_TARGET: "local", RATE_LIMIT_READ: "10000000", RATE_LIMIT_AUTH: "100000", TRAFFIC_POLL_MS: "100", UPSTREAM_TOTAL_TIMEOUT_MS: "10000" });
    expect((await cli("migrate")).code).toBe(0);
    // The operator's platform before the incident: auth, users and the public gateway at their configured URLs.
    env.AUTH_URL = (await serve("auth")).url;
    env.USERS_URL = (await serve("users")).url;
    const gateway = await serve("gateway");
    gatewayUrl = gateway.url;
    gatewayOps = gateway.ops;
    const user = await apiClient(gatewayUrl).newUser("drill");
    token = user.accessToken;
    userPath = `/api/user/${user.id}`;
    work = await mkdtemp(join(tmpdir(), "azora-drill-"));
    release = await packRelease(work, "2.1.0");
    if (!prometheusTool.run) console.log(`The drill's alert is left out: ${prometheusTool.reason}`);
    prometheus = await alerting;
  }, SLOW);
  afterAll(async () => {
    await stopTraffic?.();
    await prometheus?.stop();
    // The release's processes run detached (they outlive the deploy command): stopped by their recorded pids.
    const state = JSON.parse((await cli("deploy", "status", "--target", "local", "--json").catch(() => ({ stdout: "{}" }))).stdout || "{}");
    for (const set of Object.values(state?.sets ?? {}) as { processes: { pid: number }[] }[]) for (const each of set.processes) try { process.kill(each.pid, "SIGKILL"); } catch { /* gone */ }
    for (const run of processes) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    await dispose();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("declare, deploy, alert, rollback, collect-logs, post-mortem in order; /status while open only", async () => {
    stopTraffic = traffic();
    const declared = await cli("incident", "declare", "--sev", "2", "--service", "gateway", "--impact", "Errors after the 2.1.0 rollout", "--eta", "30m", INCIDENT);
    expect(declared.code, declared.stderr).toBe(0);
    expect(declared.stdout).toContain("🚨 INCIDENT DECLARED 🚨");
    await waitUntil(async () => ((await onStatus()).some((incident) => incident.reference === INCIDENT) || undefined), `${INCIDENT} on the gateway's /status.json`);
    expect(await (await fetch(`${gatewayUrl}/status`)).text()).toContain(INCIDENT);

    // The deploy the incident follows: the guide's blue-green script, for real, on the local target.
    const deployed = await script("blue-green-deploy.sh", ["staging", release, "--analysis-seconds", "3", "--keep-warm-seconds", "0"]);
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(deployed.stdout).toMatch(/Deployed .*azora-os-2\.1\.0\.tgz to local staging .*\(blue-green\)/);
    expect(JSON.parse((await cli("traffic", "status", "--json")).stdout).users).toMatchObject({ active: "green" });
    if (prometheus) await prometheus.fire();
    const identified = await cli("incident", "update", INCIDENT, "--status", "identified", "--message", "2.1.0 raises the error rate; rolling back");
    expect(identified.code, identified.stderr).toBe(0);

    // The rollback, for real: traffic back on the configured services.
    const rolledBack = await script("rollback.sh", ["staging", "High error rates detected"]);
    expect(rolledBack.code, rolledBack.stderr).toBe(0);
    expect(rolledBack.stdout).toMatch(/Rolled back local staging .* \(was azora-os-2\.1\.0\): High error rates detected/);
    expect(JSON.parse((await cli("traffic", "status", "--json")).stdout).users).toMatchObject({ active: "blue", blue: [env.USERS_URL] });
    if (prometheus) await prometheus.clear();
    expect(await stopTraffic()).toBeGreaterThan(0);
    stopTraffic = undefined;
    const monitoring = await cli("incident", "update", INCIDENT, "--status", "monitoring", "--message", "Back on 2.0; error rate normal");
    expect(monitoring.code, monitoring.stderr).toBe(0);

    // The archive holds the engine's own rows of the deploy and the rollback.
    const archive = join(work, "bundle.tar.gz");
    const collected = await cli("incident", "collect-logs", INCIDENT, "--out", archive, "--ops-url", gatewayOps, "--json");
    expect(collected.code, collected.stderr).toBe(0);
    const extracted = join(work, "extracted");
    execFileSync("mkdir", ["-p", extracted]);
    execFileSync("tar", ["-xzf", archive, "-C", extracted]);
    const deploys = JSON.parse(await readFile(join(extracted, INCIDENT, "deploys.json"), "utf8")) as { action: string; details: Record<string, unknown> }[];
    expect(deploys.map((row) => row.action)).toEqual(["deploy.succeeded", "deploy.rollback"]);
    expect(deploys[0]!.details).toMatchObject({ strategy: "blue-green", version: expect.stringContaining("azora-os-2.1.0.tgz") });
    expect(deploys[1]!.details).toMatchObject({ from: "azora-os-2.1.0", reason: "High error rates detected" });
    expect(execFileSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: join(extracted, INCIDENT), encoding: "utf8" })).not.toMatch(/FAILED/);

    const resolved = await cli("incident", "resolve", INCIDENT, "--message", "Rolled back; error rate normal");
    expect(resolved.code, resolved.stderr).toBe(0);
    await waitUntil(async () => ((await onStatus()).some((incident) => incident.reference === INCIDENT) ? undefined : true), `${INCIDENT} off the gateway's /status.json`);
    expect(await (await fetch(`${gatewayUrl}/status`)).text()).not.toContain(INCIDENT);

    const file = join(work, "postmortem.md");
    const written = await runCli(["incident", "postmortem", INCIDENT, "--out", file], { ...env, ...(prometheus ? { PROMETHEUS_URL: prometheus.url } : {}) });
    expect(written.code, written.stderr).toBe(0);
    const document = await readFile(file, "utf8");
    const position = (pattern: RegExp) => {
      const at = document.search(pattern);
      expect(at, `${pattern} in the post-mortem:\n${document}`).toBeGreaterThan(0);
      return at;
    };
    const order = [
      position(/Declared, Investigating: Errors after the 2\.1\.0 rollout/),
      position(/deploy\.succeeded on deploy:local staging .*version \S*azora-os-2\.1\.0\.tgz replaced/),
      ...(prometheus ? [position(/\| alert \| GatewayErrorRateDrill \(.*\) fired \|/)] : []),
      position(/Identified: 2\.1\.0 raises the error rate; rolling back/),
      position(/deploy\.rollback on deploy:local staging .*azora-os-2\.1\.0 → .*: High error rates detected/),
      ...(prometheus ? [position(/\| alert \| GatewayErrorRateDrill \(.*\) resolved \(last seen firing\) \|/)] : []),
      position(/Monitoring: Back on 2\.0; error rate normal/),
      position(/Resolved: Rolled back; error rate normal/),
    ];
    expect(order).toEqual([...order].sort((a, b) => a - b));
  }, SLOW);
});
