// Races and leftovers of `azora deploy` and `azora rollback` on the local target (ADR 0410), with real
// releases (packed tarballs of this tree), real process sets, a real split-mode gateway and PostgreSQL:
// the first deploy on a fresh data directory, a tarball rebuilt under the same name, SIGINT during a canary,
// and a rollback of a canary whose deploy was killed.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive } from "./helpers/child-platform.ts";
import { localDeployBackend, markedRelease as marked, quick, releaseMarker, requestLoop, startLocalInstallation, type LocalInstallation } from "./helpers/local-deploy.ts";
import { packRelease } from "./helpers/release.ts";
import { waitUntil } from "./helpers/wait.ts";

const SLOW = 600_000;

describe.runIf(localDeployBackend)("azora deploy on the local target: races and leftovers", () => {
  let installation: LocalInstallation;
  let env: Record<string, string>;
  let releaseDir = "";
  const agent = new Agent({ connections: 8 });
  const start = (name: string, args: string[]) => installation.start(name, args);
  const status = () => installation.status();
  const query = (sql: string) => installation.query(sql);
  const usersRoute = () => installation.usersRoute();
  const localState = () => installation.localState();
  const marker = async () => (await releaseMarker(installation, agent, installation.user.accessToken)).marker;
  /** Requests through the operator's gateway while a deploy runs: its analysis windows need requests. */
  const loop = () => {
    const traffic = requestLoop(installation, agent, () => installation.user.accessToken, ["users", "users"]);
    return async () => void (await traffic.stop());
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
    installation = await startLocalInstallation("deploy-races");
    env = installation.env;
    releaseDir = await mkdtemp(join(tmpdir(), "azora-race-releases-"));
  }, SLOW);
  afterAll(async () => {
    await agent.close();
    await installation?.stop();
    await rm(releaseDir, { recursive: true, force: true });
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
