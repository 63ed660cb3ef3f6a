// Races and leftovers of `azora deploy` and `azora rollback` on the local target (ADR 0410), with real
// releases (packed tarballs of this tree), real process sets, a real split-mode gateway and PostgreSQL:
// the first deploy on a fresh data directory, a tarball rebuilt under the same name, SIGINT during a canary,
// and a rollback of a canary whose deploy was killed.
import { execFile, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { repoRoot, runCli, spawnCli, type RunningCli } from "./helpers/cli.ts";
import { isAlive } from "./helpers/child-platform.ts";
import { splitModeEnv } from "./helpers/platform.ts";
import { packRelease } from "./helpers/release.ts";
import { waitUntil } from "./helpers/wait.ts";

const postgres = backends().find((backend) => backend.name === "postgres+redis");
const SLOW = 600_000;
const quick = ["--analysis-seconds", "3", "--keep-warm-seconds", "0"];
/** A release whose users service marks its answers, so a request through the gateway tells which build served it. */
const marked = (marker: string) => ({
  file: "src/services/users/users.app.ts",
  from: "    register: (app) => {\n",
  to: `    register: (app) => {\n      app.addHook("onRequest", async (_request, reply) => void reply.header("x-release-marker", ${JSON.stringify(marker)}));\n`,
});

describe.runIf(postgres)("azora deploy on the local target: races and leftovers", () => {
  const processes: RunningCli[] = [];
  let env: Record<string, string>;
  let dispose: () => Promise<void> = async () => undefined;
  let gatewayUrl = "";
  let path = "";
  let token = "";
  let releaseDir = "";
  const agent = new Agent({ connections: 8 });

  const serve = async (service: string) => {
    const run = spawnCli(["serve", service], env);
    processes.push(run);
    return (await run.waitFor(/(?:API|Auth|Users):\s+(http:\/\/\S+)/))[1]!;
  };
  const start = (name: string, args: string[]) => {
    let child!: ChildProcess;
    const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      child = execFile(join(repoRoot, "deployment", name), args, { cwd: repoRoot, env: { ...env, PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" }, timeout: 400_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    return { child, done };
  };
  const status = async () => JSON.parse((await runCli(["deploy", "status", "--target", "local", "--json"], env)).stdout);
  const query = async (sql: string) => {
    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };
  const usersRoute = async () => (await query("SELECT active, canary_weight FROM traffic_routes WHERE upstream = 'users'"))[0] as { active: string; canary_weight: number } | undefined;
  const localState = async () => JSON.parse(await readFile(join(env.DATA_DIR!, "state", "deploy-local.json"), "utf8").catch(() => "{}"));
  const marker = async () => {
    const response = await request(new URL(path, gatewayUrl), { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
    await response.body.dump();
    return String(response.headers["x-release-marker"] ?? "(none)");
  };
  /** Requests through the operator's gateway while a deploy runs: its analysis windows need requests. */
  const loop = () => {
    let running = true;
    const done = Promise.all(
      [0, 1].map(async () => {
        while (running) await marker().catch(() => undefined);
      }),
    );
    return async () => {
      running = false;
      await done;
    };
  };
  /** Waits until a canary deploy has moved its first weight, and returns the live colour and the canary's. */
  const atFirstCanaryStep = async () => {
    await waitUntil(async () => {
      const { deploy } = await localState();
      return (deploy?.phase === "canary" && deploy.step === "canary 10 %" && (await usersRoute())?.canary_weight === 10) || undefined;
    }, "the canary to take 10 % of the traffic", 400_000);
    const live = (await usersRoute())!.active;
    return { live, canary: live === "blue" ? "green" : "blue" };
  };

  beforeAll(async () => {
    const provisioned = await postgres!.provision();
    dispose = provisioned.dispose;
    env = await splitModeEnv(provisioned.env, "deploy-races", { LOG_STDOUT: "false", AZORA_DEPLOY_TARGET: "local", RATE_LIMIT_READ: "10000000", RATE_LIMIT_AUTH: "100000", TRAFFIC_POLL_MS: "100", UPSTREAM_TOTAL_TIMEOUT_MS: "10000" });
    expect((await runCli(["migrate"], env)).code).toBe(0);
    env.AUTH_URL = await serve("auth");
    env.USERS_URL = await serve("users");
    gatewayUrl = await serve("gateway");
    const user = await apiClient(gatewayUrl).newUser("races");
    token = user.accessToken;
    path = `/api/user/${user.id}`;
    releaseDir = await mkdtemp(join(tmpdir(), "azora-race-releases-"));
  }, SLOW);
  afterAll(async () => {
    await agent.close();
    const state = await status().catch(() => undefined);
    for (const set of Object.values(state?.sets ?? {}) as { processes: { pid: number }[] }[]) for (const each of set.processes) if (isAlive(each.pid)) process.kill(each.pid, "SIGKILL");
    for (const run of processes) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    await rm(releaseDir, { recursive: true, force: true });
    await dispose();
  });

  it("the first deploy drains nothing (no set of ours was live); a tarball rebuilt under the same name is unpacked anew, and a rollback starts the first build again", async () => {
    const tarball = await packRelease(releaseDir, "3.0.0", marked("first build"));
    let stop = loop();
    const first = await start("blue-green-deploy.sh", ["staging", tarball, ...quick]).done;
    await stop();
    expect(first.stderr).not.toMatch(/failed at/);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/no process set of ours was live before \(the configured services\): nothing to drain or stop/);
    expect(await marker()).toBe("first build");
    const firstSet = (await status()).sets[(await usersRoute())!.active];

    // The same file name, other contents: the release is the contents.
    expect(await packRelease(releaseDir, "3.0.0", marked("second build"))).toBe(tarball);
    stop = loop();
    const second = await start("blue-green-deploy.sh", ["staging", tarball, ...quick]).done;
    await stop();
    expect(second.stderr).not.toMatch(/failed at/);
    expect(second.code).toBe(0);
    await waitUntil(async () => ((await marker()) === "second build" || undefined), "the second build to serve", 10_000);
    const secondSet = (await status()).sets[(await usersRoute())!.active];
    expect(secondSet).toMatchObject({ version: "azora-os-3.0.0", running: true });
    expect(secondSet.sha256).not.toBe(firstSet.sha256);

    // Rolled back once its processes are gone, the first build starts again from its own directory, and the
    // restarted set still records which contents it runs.
    const back = await start("rollback.sh", ["staging", "Second build misbehaves"]).done;
    expect(back.stderr).toMatch(/azora-os-3\.0\.0 is no longer warm: starting it again/);
    expect(back.code).toBe(0);
    await waitUntil(async () => ((await marker()) === "first build" || undefined), "the first build to serve again", 10_000);
    expect((await status()).sets[(await usersRoute())!.active]).toMatchObject({ version: "azora-os-3.0.0", running: true, sha256: firstSet.sha256 });
  }, SLOW);

  it("SIGINT during a canary step: all traffic back on the live colour, the canary's processes stopped, the lock released, exit 130", async () => {
    const tarball = await packRelease(releaseDir, "3.1.0", marked("interrupted canary"));
    const deploying = start("canary-deploy.sh", ["staging", tarball, "--analysis-seconds", "3600", "--keep-warm-seconds", "0"]);
    const { live, canary } = await atFirstCanaryStep();
    deploying.child.kill("SIGINT");
    const result = await deploying.done;
    expect(result.stderr).toMatch(/SIGINT: stopping the deploy of .*azora-os-3\.1\.0\.tgz at "canary 10 %"/);
    expect(result.code).toBe(130);
    expect(await usersRoute()).toEqual({ active: live, canary_weight: 0 });
    const state = await status();
    expect(state).toMatchObject({ live, lock: null, lastDeploy: { phase: "rolled_back", interrupted: "SIGINT" } });
    expect(state.sets[canary]).toMatchObject({ version: "azora-os-3.1.0", running: false });
    expect(state.sets[canary].failed).toBeUndefined();
    for (const service of state.sets[canary].processes) expect(isAlive(service.pid)).toBe(false);
    const rows = await query("SELECT action, details FROM audit_log WHERE action LIKE 'deploy.%' ORDER BY seq DESC LIMIT 1");
    expect(rows[0]).toMatchObject({ action: "deploy.rolled_back", details: { automatic: false, interrupted: "SIGINT", failedStep: "canary 10 %" } });
  }, SLOW);

  it("a rollback of a canary whose deploy was killed stops the canary's processes", async () => {
    const tarball = await packRelease(releaseDir, "3.2.0", marked("killed canary"));
    const deploying = start("canary-deploy.sh", ["staging", tarball, "--analysis-seconds", "3600", "--keep-warm-seconds", "0"]);
    const { live, canary } = await atFirstCanaryStep();
    deploying.child.kill("SIGKILL");
    await deploying.done;
    const pids = ((await localState()).sets[canary].processes as { pid: number }[]).map((service) => service.pid);
    expect(pids.every(isAlive)).toBe(true);
    await rm(join(env.DATA_DIR!, "state", "deploy-local.lock")); // as the refusal says for a dead deploy's lock
    const back = await start("rollback.sh", ["staging", "Canary left behind"]).done;
    expect(back.stderr).toMatch(/stopping the canary's process set \(azora-os-3\.2\.0\) once the gateways have followed/);
    expect(back.code).toBe(0);
    expect(await usersRoute()).toEqual({ active: live, canary_weight: 0 });
    expect(pids.filter(isAlive)).toEqual([]);
    expect((await status()).sets[canary]).toMatchObject({ version: "azora-os-3.2.0", running: false });
  }, SLOW);
});
