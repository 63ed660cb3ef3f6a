// The kubernetes target of `azora deploy` and `azora rollback`, driven through the guide's scripts. kubectl is
// the recording stub (no cluster can run here); everything behind its port-forward is a real platform, so
// the smoke tests and the metric gates run for real. The asserted command sequences are docs/deployment.md's.
import { createServer, type Server } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { KubectlStub } from "./helpers/kubectl-stub.ts";
import { changes, deployState, removePreview, route, stagingStub, startDeployTarget, type DeployTarget, type Traffic } from "./helpers/kubernetes-deploy.ts";
import { toolAvailability } from "./helpers/tools.ts";
import { waitUntil } from "./helpers/wait.ts";

const kubectl = toolAvailability("kubectl", "kubernetes-client");
if (!kubectl.run) console.log(`deploy suite skipped: ${kubectl.reason} (the stub's store is a rendered overlay)`);

// A window of 3 s: on a loaded machine a 1 s window can pass without one request of the traffic loop.
const quick = ["--analysis-seconds", "3", "--keep-warm-seconds", "0"];
// Each test runs the CLI several times; on a busy two-core machine one start alone can take 15 s.
const SLOW = 900_000;

const startPreview = [
  "delete job migrate --ignore-not-found",
  "apply Job/migrate",
  "wait --for=condition=complete job/migrate --timeout=600s",
  "apply Deployment/auth-service-preview",
  "apply Service/auth-service-preview",
  "apply Deployment/user-service-preview",
  "apply Service/user-service-preview",
  "apply Deployment/api-gateway-preview",
  "rollout status deployment/auth-service-preview --timeout=600s",
  "rollout status deployment/user-service-preview --timeout=600s",
  "rollout status deployment/api-gateway-preview --timeout=600s",
  "port-forward deployment/api-gateway-preview :8080",
  "port-forward deployment/api-gateway-preview :9090",
];
const promote = (version: string) =>
  ["auth-service", "user-service", "api-gateway"].flatMap((name) => [`set image deployment/${name} ${name}=azora/${name}:${version}`, `rollout status deployment/${name} --timeout=600s`]);
const clearRequest = "delete configmap azora-deploy-rollback --ignore-not-found";
// A deploy takes the lock and clears any rollback request a dead deploy left; at the end it removes what was made
// for it (its promotion marker, or the request it acted on) and releases its own lock, both by id.
const lock = ["create configmap azora-deploy-lock --from-literal=holder=…"];
const deployLock = [...lock, clearRequest];
const unlock = ["delete own configmap azora-deploy-lock"];
const ownRequest = "delete own configmap azora-deploy-rollback";
const deployUnlock = [ownRequest, ...unlock];
const promoting = "create configmap azora-deploy-rollback kind=promoting";
/** A canary move under the deploy's claim on the request slot (ADR 0410). */
const claimed = (...lines: string[]) => ["create configmap azora-deploy-rollback kind=moving", ...lines, ownRequest];

describe.skipIf(!kubectl.run)("azora deploy on the kubernetes target", () => {
  let target: DeployTarget | undefined;
  let stub: KubectlStub;
  let closedPort: Server;
  let traffic: Traffic | undefined;

  beforeAll(async () => {
    target = await startDeployTarget(["v1.0.0", "v2.0.0", "v2.0.1"]);
    // A port that accepts nothing: the "preview" whose smoke tests fail.
    closedPort = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => closedPort.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    closedPort?.close();
    await target?.stop();
  });
  afterEach(async () => {
    await traffic?.stop();
    traffic = undefined;
    stub?.dispose();
  });

  function freshStub(): KubectlStub {
    stub = stagingStub();
    return stub;
  }

  function keepTraffic(): void {
    traffic = target!.traffic();
  }

  const run = (script: string, args: string[], extraEnv: Record<string, string> = {}) => target!.start(stub, script, args, extraEnv).done;
  const image = (name: string) => stub.object("Deployment", name)?.spec.template.spec.containers[0].image;
  const selector = (name: string) => stub.object("Service", name)?.spec.selector;

  it("blue-green: preview, smoke, analysis, switch, analysis, promote, in the documented order", async () => {
    freshStub();
    keepTraffic();
    const result = await run("blue-green-deploy.sh", ["staging", "v2.0.0", ...quick]);
    expect(await traffic!.stop()).toBe(0);
    expect(result.stderr).not.toMatch(/failed at/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Deployed v2\.0\.0 to azora-staging \(blue-green\); the previous version was 0\.1\.0/);
    expect(changes(stub)).toEqual([...deployLock, ...startPreview, ...route("preview"), promoting, ...promote("v2.0.0"), ...route("stable"), ...removePreview, ...deployUnlock]);
    expect(image("api-gateway")).toBe("azora/api-gateway:v2.0.0");
    expect(selector("api-gateway")).toEqual({ "app.kubernetes.io/name": "api-gateway", "azora.os/track": "stable" });
    const status = await run("../bin/azora.js", ["deploy", "status", "staging", "--json"]);
    const report = JSON.parse(status.stdout);
    expect(report.staging).toMatchObject({ versions: { "api-gateway": "v2.0.0", "auth-service": "v2.0.0", "user-service": "v2.0.0" }, preview: false, lock: null, lastDeploy: { phase: "succeeded", version: "v2.0.0", previousVersion: "0.1.0" } });

    stub.clearCalls();
    const back = await run("rollback.sh", ["staging", "High error rates detected"]);
    expect(back.code).toBe(0);
    expect(changes(stub)).toEqual([
      ...lock,
      ...["auth-service", "user-service", "api-gateway"].flatMap((name) => [`rollout undo deployment/${name}`, `rollout status deployment/${name} --timeout=600s`]),
      ...unlock,
    ]);
    const afterRollback = JSON.parse((await run("../bin/azora.js", ["deploy", "status", "staging", "--json"])).stdout);
    expect(afterRollback.staging.lastDeploy).toMatchObject({ strategy: "rollback", phase: "rolled_back", reason: "High error rates detected" });
  }, SLOW);

  it("rolls back by itself when the new version's smoke tests fail: nothing promoted, traffic on the old version", async () => {
    freshStub();
    const result = await run("blue-green-deploy.sh", ["staging", "v2.0.1", ...quick], { STUB_PORT_8080: String((closedPort.address() as { port: number }).port) });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/failed at "smoke tests and analysis on the preview": smoke tests failed against v2\.0\.1/);
    expect(changes(stub)).toEqual([...deployLock, ...startPreview, ...route("stable"), ...removePreview, ...unlock]);
    expect(image("api-gateway")).toBe("azora/api-gateway:0.1.0");
    expect(stub.object("Deployment", "api-gateway-preview")).toBeUndefined();
    expect(JSON.parse(stub.object("ConfigMap", "azora-deploy-state")!.data!.state!)).toMatchObject({ phase: "rolled_back", version: "v2.0.1", reason: "smoke tests failed against v2.0.1" });
  }, SLOW);

  it("canary: 10, 25 and 50 % of the gateway's pods, with an analysis at each, then the switch", async () => {
    freshStub();
    keepTraffic();
    const result = await run("canary-deploy.sh", ["staging", "v2.0.0", ...quick]);
    expect(await traffic!.stop()).toBe(0);
    expect(result.stderr).not.toMatch(/failed at/);
    expect(result.code).toBe(0);
    const both = 'patch service api-gateway --type=merge -p {"spec":{"selector":{"azora.os/track":null}}}';
    const scale = (replicas: number) => [`scale deployment/api-gateway-preview --replicas=${replicas}`, "rollout status deployment/api-gateway-preview --timeout=600s"];
    expect(changes(stub)).toEqual([
      ...deployLock,
      ...startPreview,
      ...claimed(both, ...scale(1)),
      ...claimed(...scale(1)),
      ...claimed(...scale(3)),
      ...claimed(...route("preview")),
      promoting,
      ...promote("v2.0.0"),
      ...route("stable"),
      ...removePreview,
      ...deployUnlock,
    ]);
    expect(result.stderr).toMatch(/canary 10 % analysis: 0 of \d+ requests failed/);
  }, SLOW);

  it("canary: aborts at the first step when the analysis sees no requests, and puts traffic back", async () => {
    freshStub();
    const result = await run("canary-deploy.sh", ["staging", "v2.0.0", ...quick]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/failed at "canary 10 %": canary 10 % analysis: no requests reached the new version/);
    expect(changes(stub).slice(-9)).toEqual([...route("stable"), ...removePreview, ...unlock]);
    expect(selector("api-gateway")).toEqual({ "app.kubernetes.io/name": "api-gateway", "azora.os/track": "stable" });
    expect(changes(stub).some((line) => line.startsWith("set image"))).toBe(false);
  }, SLOW);

  it("rollback while the old version is kept warm: the deploy holding the lock switches back at once, nothing promoted", async () => {
    freshStub();
    keepTraffic();
    const deploying = run("blue-green-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3", "--keep-warm-seconds", "3600"]);
    const state = () => deployState(stub);
    await waitUntil(async () => (state().phase === "switched" && /^keep .* warm/.test(state().step)) || undefined, "the deploy to keep the old version warm", 180_000);
    const switchedAt = stub.calls().length;
    const back = await run("rollback.sh", ["staging", "High error rates detected"]);
    expect(back.stderr).toMatch(/The deploy of v2\.0\.0 \(.*\) keeps 0\.1\.0 warm: asked it to switch back/);
    expect(back.stdout).toMatch(/Rolled back azora-staging to 0\.1\.0 \(was v2\.0\.0; switched back to the warm version\): High error rates detected/);
    expect(back.code).toBe(0);
    const deployed = await deploying;
    expect(deployed.code).toBe(1);
    expect(deployed.stderr).toMatch(/Rollback requested by .* at "keep 0\.1\.0 warm for 3600 s": High error rates detected/);
    expect(await traffic!.stop()).toBe(0);
    // After the switch: the rollback's refused lock, its request, then the deploy's switch back, clean-up and unlock; nothing promoted.
    const afterSwitch = changes({ ...stub, calls: () => stub.calls().slice(switchedAt) } as KubectlStub);
    expect(afterSwitch).toEqual([...lock, "create configmap azora-deploy-rollback kind=rollback", ...route("stable"), ...removePreview, ...deployUnlock]);
    expect(changes(stub).some((line) => line.startsWith("set image"))).toBe(false);
    expect(image("api-gateway")).toBe("azora/api-gateway:0.1.0");
    expect(selector("api-gateway")).toEqual({ "app.kubernetes.io/name": "api-gateway", "azora.os/track": "stable" });
    expect(state()).toMatchObject({ phase: "rolled_back", version: "v2.0.0", reason: "High error rates detected" });
    expect(stub.object("ConfigMap", "azora-deploy-lock")).toBeUndefined();
  }, SLOW);

  it("rollback during a canary's steps: the deploy aborts the canary at once, every Service back on stable, nothing promoted", async () => {
    freshStub();
    keepTraffic();
    // An hour per step: only the rollback ends the canary within the test.
    const deploying = run("canary-deploy.sh", ["staging", "v2.0.0", "--analysis-seconds", "3600", "--keep-warm-seconds", "0"]);
    const state = () => deployState(stub);
    // At 10 %, in the step's analysis window: the preview scaled, its claim released, and the deploy looking for a rollback request since.
    await waitUntil(async () => {
      const calls = stub.calls();
      const released = calls.findLastIndex(({ args }) => args[0] === "delete" && args[1] === "--raw" && args[2]!.endsWith("/azora-deploy-rollback"));
      const scaled = calls.findIndex(({ args }) => args[0] === "scale");
      return (state().phase === "canary" && scaled >= 0 && released > scaled && calls.slice(released + 1).some(({ args }) => args[0] === "get" && args.includes("azora-deploy-rollback"))) || undefined;
    }, "the canary's first analysis window", 180_000);
    const before = stub.calls().length;
    const back = await run("rollback.sh", ["staging", "Canary latency regression"]);
    expect(back.stderr).toMatch(/The canary of v2\.0\.0 \(.*\) is at "canary 10 %": asked it to abort and put all traffic back on 0\.1\.0/);
    expect(back.stdout).toMatch(/Rolled back azora-staging to 0\.1\.0 \(was v2\.0\.0; canary aborted at canary 10 %, all traffic back on the stable version\): Canary latency regression/);
    expect(back.code).toBe(0);
    const deployed = await deploying;
    expect(deployed.code).toBe(1);
    expect(deployed.stderr).toMatch(/Rollback requested by .* at "canary 10 %": Canary latency regression\. Aborting the canary/);
    expect(await traffic!.stop()).toBe(0);
    const afterRequest = changes({ ...stub, calls: () => stub.calls().slice(before) } as KubectlStub);
    expect(afterRequest).toEqual([...lock, "create configmap azora-deploy-rollback kind=rollback", ...route("stable"), ...removePreview, ...deployUnlock]);
    expect(changes(stub).some((line) => line.startsWith("set image") || line.includes("--replicas=3"))).toBe(false);
    expect(selector("api-gateway")).toEqual({ "app.kubernetes.io/name": "api-gateway", "azora.os/track": "stable" });
    expect(state()).toMatchObject({ strategy: "canary", phase: "rolled_back", version: "v2.0.0", step: "canary 10 %", reason: "Canary latency regression" });
  }, SLOW);

  it("a rollback while a deploy is before its switch, or promoting, is refused with what to do", async () => {
    freshStub();
    stub.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "azora-deploy-lock" }, data: { holder: "ops@bastion pid 42", since: "2026-11-29T04:00:00Z" } });
    const deployState = (phase: string, step: string) =>
      stub.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "azora-deploy-state" }, data: { state: JSON.stringify({ strategy: "blue-green", version: "v2.0.0", previousVersion: "0.1.0", phase, step, startedAt: "2026-11-29T04:00:00Z" }) } });
    deployState("deploying", "smoke tests and analysis on the preview");
    const early = await run("rollback.sh", ["staging", "Service instability"]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/It is at "smoke tests and analysis on the preview", before its switch: traffic is still on 0\.1\.0/);
    deployState("switched", "promote the stable Deployments");
    stub.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "azora-deploy-rollback" }, data: { kind: "promoting", reason: "promoting v2.0.0", holder: "ops@bastion pid 42", at: "2026-11-29T04:10:00Z" } });
    const promoting = await run("rollback.sh", ["staging", "Service instability"]);
    expect(promoting.code).toBe(1);
    expect(promoting.stderr).toMatch(/is promoting it now: 0\.1\.0 is no longer kept warm\. Nothing was changed; run the rollback again once/);
    expect(changes(stub).filter((line) => !line.startsWith("create configmap"))).toEqual([]);
    expect(selector("api-gateway")).toEqual({ "app.kubernetes.io/name": "api-gateway", "azora.os/track": "stable" });
  }, SLOW);

  it("refuses bad input with a clear message and changes nothing", async () => {
    freshStub();
    const unknownEnvironment = await run("blue-green-deploy.sh", ["qa", "v2.0.0"]);
    expect(unknownEnvironment.code).toBe(2);
    expect(unknownEnvironment.stderr).toMatch(/'qa' is invalid for argument 'environment'. Allowed choices are staging, production/);
    const unknownVersion = await run("blue-green-deploy.sh", ["staging", "v9.9.9"]);
    expect(unknownVersion.code).toBe(1);
    expect(unknownVersion.stderr).toMatch(/unknown version v9\.9\.9: no git tag v9\.9\.9/);
    const malformed = await run("canary-deploy.sh", ["staging", "../v2"]);
    expect(malformed.code).toBe(2);
    const noReason = await run("rollback.sh", ["staging", " "]);
    expect(noReason.code).toBe(2);
    const planned = await run("canary-deploy.sh", ["staging", "v2.0.0", "--dry-run"]);
    expect(planned.code).toBe(0);
    expect(planned.stdout).toMatch(/Would deploy v2\.0\.0 to azora-staging \(canary\) over 0\.1\.0/);
    const plannedRollback = await run("rollback.sh", ["staging", "Service instability", "--dry-run"]);
    expect(plannedRollback.stdout).toMatch(/Would roll back azora-staging \(now 0\.1\.0\): kubectl rollout undo/);
    const local = await run("blue-green-deploy.sh", ["staging", "v2.0.0", "--target", "local"]);
    expect(local.code).toBe(1);
    expect(local.stderr).toMatch(/local target moves the traffic routes of split-mode gateways .*need DATABASE_URL/);
    expect(changes(stub)).toEqual([]);

    stub.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "azora-deploy-lock" }, data: { holder: "ops@bastion pid 42", since: "2026-11-29T04:00:00Z" } });
    for (const [script, args] of [["blue-green-deploy.sh", ["staging", "v2.0.0"]], ["rollback.sh", ["staging", "Service instability"]]] as const) {
      const locked = await run(script, [...args]);
      expect(locked.code).toBe(1);
      expect(locked.stderr).toMatch(/Another deploy or rollback is running in azora-staging \(ops@bastion pid 42 since 2026-11-29T04:00:00Z\); nothing was changed/);
    }
    expect(changes(stub).filter((line) => !line.startsWith("create configmap azora-deploy-lock"))).toEqual([]);
    expect(stub.object("ConfigMap", "azora-deploy-lock")?.data?.holder).toBe("ops@bastion pid 42");

    stub.remove("Namespace", "azora-staging"); // kubectl pointed at another cluster, or the overlay never applied
    const unreachable = await run("blue-green-deploy.sh", ["staging", "v2.0.0"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/Namespace azora-staging is not reachable with kubectl/);
  }, SLOW);
});
