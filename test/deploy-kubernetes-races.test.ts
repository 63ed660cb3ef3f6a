// Races of `azora deploy` and `azora rollback` on the kubernetes target (ADR 0410), through the guide's
// scripts against the kubectl stub, with a real platform behind its port-forward (as deploy-kubernetes.test.ts).
// Where a race needs an instant, the stub holds one call until the test lets it go (STUB_HOLD), never a sleep.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { KubectlStub } from "./helpers/kubectl-stub.ts";
import { changes, deployState, removePreview, route, stagingStub, startDeployTarget, type DeployTarget, type Traffic } from "./helpers/kubernetes-deploy.ts";
import { toolAvailability } from "./helpers/tools.ts";
import { waitUntil } from "./helpers/wait.ts";

const exec = promisify(execFile);
const kubectl = toolAvailability("kubectl", "kubernetes-client");
const SLOW = 900_000;
const beginCanary = 'track":null';

describe.skipIf(!kubectl.run)("races of azora deploy and rollback on the kubernetes target", () => {
  let target: DeployTarget | undefined;
  let stub: KubectlStub;
  let traffic: Traffic | undefined;

  beforeAll(async () => {
    target = await startDeployTarget(["v1.0.0", "v2.0.0"]);
  });
  afterAll(() => target?.stop());
  afterEach(async () => {
    await traffic?.stop();
    traffic = undefined;
    stub?.release();
    stub?.dispose();
  });

  const fresh = () => (stub = stagingStub());
  const start = (script: string, args: string[], extraEnv: Record<string, string> = {}) => target!.start(stub, script, args, extraEnv);
  const state = () => deployState(stub);
  const lockObject = () => stub.object("ConfigMap", "azora-deploy-lock");
  /** kubectl itself (the stub), as another client of the cluster would call it: fast, and exclusive on create. */
  const kubectlCall = (args: string[]) =>
    exec(join(stub.binDir, "kubectl"), ["-n", "azora-staging", ...args], { env: { ...process.env, ...stub.env } }).then(
      () => 0,
      (error: { code?: number }) => Number(error.code ?? 1),
    );
  const createRequest = (deployId: string, id: string) =>
    kubectlCall(["create", "configmap", "azora-deploy-rollback", "--from-literal=kind=rollback", "--from-literal=reason=Canary latency regression", "--from-literal=holder=ops@bastion pid 7", "--from-literal=at=2026-11-29T05:00:00Z", `--from-literal=deployId=${deployId}`, `--from-literal=id=${id}`]);
  const callIndex = (pattern: RegExp) => stub.calls().findIndex(({ args }) => pattern.test(args.join(" ")));
  function keepTraffic(): void {
    traffic = target!.traffic();
  }

  it("a deploy whose lock was removed as stale and taken by another leaves that lock alone", async () => {
    fresh();
    keepTraffic();
    const deploying = start("blue-green-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3", "--keep-warm-seconds", "20"]);
    await waitUntil(async () => (/^keep .* warm/.test(state().step ?? "") || undefined), "the deploy to keep the old version warm", 300_000);
    // An operator took the lock for stale (removed it) and another deploy took it: a new object, another id and uid.
    stub.remove("ConfigMap", "azora-deploy-lock");
    expect(await kubectlCall(["create", "configmap", "azora-deploy-lock", "--from-literal=holder=ops@bastion pid 99", "--from-literal=since=2026-11-29T05:00:00Z", "--from-literal=id=the-next-deploy"])).toBe(0);
    const result = await deploying.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/The lock is no longer this deploy's: it was removed as stale and is held by ops@bastion pid 99 since 2026-11-29T05:00:00Z now; left in place/);
    expect(lockObject()?.data).toMatchObject({ holder: "ops@bastion pid 99", id: "the-next-deploy" });
  }, SLOW);

  it("a rollback request made while the canary moves waits for the move: no weight step follows an accepted request", async () => {
    fresh();
    const deploying = start("canary-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3600", "--keep-warm-seconds", "0"], { STUB_HOLD: beginCanary });
    // The deploy is in its first move (the gateway Service about to select both tracks), held there.
    await waitUntil(async () => (callIndex(/track":null/) >= 0 || undefined), "the first canary move", 300_000);
    const deployId = state().id as string;
    // A requester, as `azora rollback` asks: exclusively, again every 200 ms while the slot is taken.
    let tries = 0;
    let madeAt = -1;
    const requesting = (async () => {
      for (;;) {
        tries++;
        const calls = stub.calls().length;
        if ((await createRequest(deployId, "request-1")) === 0) return (madeAt = calls);
        if (tries === 1) stub.release();
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    await waitUntil(async () => (tries > 0 || undefined), "the first request", 30_000);
    stub.release();
    await requesting;
    const result = await deploying.done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Rollback requested by ops@bastion pid 7 at "canary 10 %": Canary latency regression\. Aborting the canary/);
    // After the request went in, only the way back: no scale, no selector on both tracks, no switch.
    const after = changes(stub, madeAt);
    expect(after.filter((line) => line.startsWith("scale") || line.includes(beginCanary) || line.includes('"preview"'))).toEqual([]);
    expect(after).toEqual(expect.arrayContaining([...route("stable"), ...removePreview]));
    expect(state()).toMatchObject({ phase: "rolled_back", requestId: "request-1", abortedCanary: true });
  }, SLOW);

  it("azora rollback waits out a canary step longer than two minutes, and reports the rollback", async () => {
    fresh();
    // The 10 % step's scale takes longer than the 120 s a rollback used to wait (a rollout may take 600 s).
    const deploying = start("canary-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3600", "--keep-warm-seconds", "0"], { STUB_HOLD: "^scale" });
    await waitUntil(async () => (callIndex(/^scale/) >= 0 || undefined), "the canary's first scale", 300_000);
    const rolling = start("rollback.sh", ["staging", "Canary latency regression"]);
    await waitUntil(async () => (callIndex(/kind=rollback/) >= 0 || undefined), "the rollback's request", 300_000);
    await new Promise((resolve) => setTimeout(resolve, 130_000));
    stub.release();
    const back = await rolling.done;
    expect(back.stderr).toMatch(/is moving traffic now .*the request goes in once that step ends \(a step may take up to 600 s\)/);
    expect(back.stdout, back.stderr).toMatch(/Rolled back azora-staging to 0\.1\.0 \(was v2\.0\.0; canary aborted at canary 10 %, all traffic back on the stable version\): Canary latency regression/);
    expect(back.code).toBe(0);
    expect((await deploying.done).code).toBe(1);
  }, SLOW);

  it("a rollback request left for an earlier deploy does not abort the next one", async () => {
    fresh();
    keepTraffic();
    const deploying = start("canary-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3", "--keep-warm-seconds", "0"]);
    await waitUntil(async () => (state().step === "canary 10 %" && callIndex(/^scale/) >= 0 || undefined), "the canary at 10 %", 300_000);
    // Made for the deploy before this one (its requester came late), it appears after this deploy started
    // (asked again while the deploy's own claim holds the slot).
    await waitUntil(async () => ((await createRequest("the-deploy-before", "late-request")) === 0 || undefined), "the late request to go in", 60_000);
    const result = await deploying.done;
    expect(result.stderr).not.toMatch(/Rollback requested/);
    expect(result.stderr).toMatch(/a rollback request made for another deploy \(ops@bastion pid 7 at 2026-11-29T05:00:00Z\) was left behind: removed/);
    expect(result.code).toBe(0);
    expect(state()).toMatchObject({ phase: "succeeded" });
    expect(stub.object("ConfigMap", "azora-deploy-rollback")).toBeUndefined();
  }, SLOW);

  it("a kubectl call that fails for a moment is asked again; one that keeps failing fails the deploy with its error", async () => {
    fresh();
    keepTraffic();
    const unreachable = "Unable to connect to the server: dial tcp 10.0.0.1:443: connect: connection refused";
    const passing = await start("blue-green-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3", "--keep-warm-seconds", "1"], {
      STUB_FAIL: "^(rollout status deployment/auth-service-preview|get configmap azora-deploy-rollback)",
      STUB_FAIL_TIMES: "2",
      STUB_FAIL_MESSAGE: unreachable,
    }).done;
    expect(passing.stderr).toMatch(/kubectl rollout status deployment\/auth-service-preview failed \(kubectl rollout status .*Unable to connect to the server.*\); tolerated 1 of 5 in a row/);
    expect(passing.stderr).toMatch(/reading the rollback request failed .*tolerated 2 of 5 in a row/);
    expect(passing.code).toBe(0);
    await traffic!.stop();
    traffic = undefined;

    fresh();
    const failing = await start("blue-green-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3", "--keep-warm-seconds", "0"], { STUB_FAIL: "^rollout status deployment/auth-service-preview", STUB_FAIL_MESSAGE: unreachable }).done;
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(/failed at "start the preview track": kubectl rollout status deployment\/auth-service-preview: Unable to connect to the server: .*connection refused \(6 failures in a row/);
    expect(changes(stub).slice(-6)).toEqual([...removePreview, "delete own configmap azora-deploy-lock"]);
  }, SLOW);

  it("SIGINT during keep-warm and SIGTERM during a rollout wait: traffic back, preview removed, lock released, exit 130 and 143", async () => {
    fresh();
    keepTraffic();
    const warm = start("blue-green-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3", "--keep-warm-seconds", "3600"]);
    await waitUntil(async () => (/^keep .* warm/.test(state().step ?? "") || undefined), "the deploy to keep the old version warm", 300_000);
    const before = stub.calls().length;
    warm.child.kill("SIGINT");
    const interrupted = await warm.done;
    expect(interrupted.stderr).toMatch(/SIGINT: stopping the deploy of v2\.0\.0 at "keep 0\.1\.0 warm for 3600 s"/);
    expect(interrupted.stderr).toMatch(/Stopped by SIGINT: traffic is on 0\.1\.0, v2\.0\.0 removed, the lock released/);
    expect(interrupted.code).toBe(130);
    expect(changes(stub, before)).toEqual([...route("stable"), ...removePreview, "delete own configmap azora-deploy-lock"]);
    expect(state()).toMatchObject({ phase: "rolled_back", interrupted: "SIGINT", reason: "interrupted by SIGINT" });
    expect(lockObject()).toBeUndefined();
    await traffic!.stop();
    traffic = undefined;

    fresh();
    const rollout = start("blue-green-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3", "--keep-warm-seconds", "0"], { STUB_HOLD: "^rollout status deployment/api-gateway-preview" });
    await waitUntil(async () => (callIndex(/^rollout status deployment\/api-gateway-preview/) >= 0 || undefined), "the preview's rollout wait", 300_000);
    rollout.child.kill("SIGTERM");
    const terminated = await rollout.done;
    expect(terminated.code).toBe(143);
    expect(terminated.stderr).toMatch(/Deploy of v2\.0\.0 interrupted by SIGTERM at "start the preview track"/);
    expect(changes(stub).slice(-9)).toEqual([...route("stable"), ...removePreview, "delete own configmap azora-deploy-lock"]);
    expect(state()).toMatchObject({ phase: "rolled_back", interrupted: "SIGTERM" });
    expect(lockObject()).toBeUndefined();
  }, SLOW);

  it("SIGINT while the deploy claims its promotion (told it stops) stops it: nothing promoted, traffic back, exit 130", async () => {
    fresh();
    keepTraffic();
    // The promotion's claim is held: the signal comes after the last look at keep-warm, before promotion begins.
    const deploying = start("blue-green-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3", "--keep-warm-seconds", "0"], { STUB_HOLD: "kind=promoting" });
    await waitUntil(async () => (callIndex(/kind=promoting/) >= 0 || undefined), "the promotion's claim", 300_000);
    const before = stub.calls().length;
    deploying.child.kill("SIGINT");
    // The handler has run once it said so; only then may the claim go through.
    await waitUntil(async () => (/SIGINT: stopping the deploy of v2\.0\.0/.test(deploying.stderr()) || undefined), "the deploy to take the signal", 60_000);
    stub.release();
    const result = await deploying.done;
    expect(result.stdout).not.toMatch(/Deployed v2\.0\.0/);
    expect(result.stderr).not.toMatch(/during the promotion/);
    expect(result.stderr).toMatch(/Stopped by SIGINT: traffic is on 0\.1\.0, v2\.0\.0 removed, the lock released/);
    expect(result.code).toBe(130);
    expect(changes(stub, before).filter((line) => line.startsWith("set image"))).toEqual([]);
    expect(changes(stub, before)).toEqual(expect.arrayContaining([...route("stable"), ...removePreview, "delete own configmap azora-deploy-lock"]));
    expect(state()).toMatchObject({ phase: "rolled_back", interrupted: "SIGINT" });
    expect(stub.object("ConfigMap", "azora-deploy-rollback")).toBeUndefined();
    expect(lockObject()).toBeUndefined();
  }, SLOW);

  it("azora rollback that a deploy overtook by failing by itself says so, and records no rollback of its own", async () => {
    fresh();
    // The first move is held until the rollback has asked; then the canary's scale fails and the deploy rolls back by itself.
    const deploying = start("canary-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3600", "--keep-warm-seconds", "0"], { STUB_HOLD: beginCanary, STUB_FAIL: "^scale", STUB_FAIL_MESSAGE: "Error from server (Forbidden): deployments.apps is forbidden" });
    await waitUntil(async () => (callIndex(/track":null/) >= 0 || undefined), "the first canary move", 300_000);
    const rolling = start("rollback.sh", ["staging", "Canary latency regression"]);
    await waitUntil(async () => (callIndex(/kind=rollback/) >= 0 || undefined), "the rollback's request", 300_000);
    stub.release();
    const deployed = await deploying.done;
    expect(deployed.stderr).toMatch(/failed at "canary 10 %": kubectl scale .*forbidden/);
    const back = await rolling.done;
    expect(back.stdout).toMatch(/azora-staging is back on 0\.1\.0: the deploy of v2\.0\.0 rolled back by itself at "canary 10 %" \(kubectl scale .*\) before it acted on this request\. This request was withdrawn; no rollback row was written for it/);
    expect(back.stdout).not.toMatch(/Rolled back azora-staging/);
    expect(back.code).toBe(0);
    expect(state()).toMatchObject({ phase: "rolled_back" });
    expect(state().requestId).toBeUndefined();
    expect(stub.object("ConfigMap", "azora-deploy-rollback")).toBeUndefined();
  }, SLOW);
});
