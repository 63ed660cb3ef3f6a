// The local target of `azora deploy` and `azora rollback`, through the guide's scripts, as in
// deploy-local-blue-green.test.ts (one installation each, test/helpers/local-deploy.ts). This file: rollback.sh
// during a canary's steps, and deploys of git refs from the operator's checkout.
import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Agent } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { repoRoot } from "./helpers/cli.ts";
import { deployUnderTraffic, freshAccessToken, localDeployBackend, markedRelease, quick, releaseMarker, requestLoop, routeSwitchedWithin, startLocalInstallation, type LocalInstallation } from "./helpers/local-deploy.ts";
import { packRelease } from "./helpers/release.ts";
import { waitUntil } from "./helpers/wait.ts";

const exec = promisify(execFile);
const SLOW = 600_000;

/**
 * A git repository holding this tree, as an operator's checkout holds the project: every commit is a whole
 * release whose users service marks its answers (header x-release-marker), so a request through the gateway
 * tells which commit served it. `commit(marker)` adds a commit on the current branch and returns its hash.
 */
async function gitReleaseRepo(): Promise<{ dir: string; git: (...args: string[]) => Promise<string>; commit: (marker: string) => Promise<string> }> {
  const dir = await mkdtemp(join(tmpdir(), "azora-git-releases-"));
  const git = async (...args: string[]) => (await exec("git", ["-c", "user.name=Release", "-c", "user.email=release@example.com", ...args], { cwd: dir })).stdout.trim();
  for (const entry of ["bin", "src", "migrations", "deployment", "package.json", "package-lock.json", "tsconfig.json"]) await cp(join(repoRoot, entry), join(dir, entry), { recursive: true });
  const usersApp = join(dir, "src/services/users/users.app.ts");
  const pristine = await readFile(usersApp, "utf8");
  if (!pristine.includes(markedRelease("").from)) throw new Error("the release marker no longer applies to users.app.ts");
  await git("init", "-q", "-b", "main");
  const commit = async (marker: string) => {
    const { from, to } = markedRelease(marker);
    await writeFile(usersApp, pristine.replace(from, to));
    await git("add", "-A");
    await git("commit", "-q", "-m", `release ${marker}`);
    return git("rev-parse", "HEAD");
  };
  return { dir, git, commit };
}

describe.runIf(localDeployBackend)("azora deploy on the local target: rollback during a canary, git refs", () => {
  let installation: LocalInstallation;
  let token = "";
  const releases: Record<string, string> = {};
  const agent = new Agent({ connections: 16 });
  const script = (name: string, args: string[], cwd?: string) => installation.script(name, args, cwd);
  const status = (options?: { child?: boolean }) => installation.status(options);
  const route = (options?: { child?: boolean }) => installation.route(options);
  const localState = () => installation.localState();
  const usersRoute = () => installation.usersRoute();
  const auditRows = () => installation.query("SELECT action, target, details FROM audit_log WHERE action LIKE 'deploy.%' ORDER BY seq");
  /** Four requests at a time on the users upstream and one on the auth upstream through the operator's gateway. */
  const loop = () => requestLoop(installation, agent, () => token);
  /** A blue-green of the good release under traffic, for tests run alone. */
  const deployFirst = () => deployUnderTraffic(installation, loop, releases.good!);
  const switchedWithin = (colour: string, command: Promise<unknown>) => routeSwitchedWithin(installation, colour, command);
  /** The x-release-marker of an answer through the operator's gateway: which release's users service served it. */
  const marker = async () => {
    const { status: code, marker: seen } = await releaseMarker(installation, agent, token);
    expect(code).toBe(200);
    return seen;
  };
  /** Waits (a gateway follows a route change within one TRAFFIC_POLL_MS) until `expected` serves; the marker last seen otherwise. */
  const servedBy = async (expected: string) => {
    let seen = "";
    await waitUntil(async () => ((seen = await marker()) === expected ? true : undefined), `${expected} to serve`, 10_000).catch(() => undefined);
    return seen;
  };

  beforeAll(async () => {
    installation = await startLocalInstallation("deploy-local-canary");
    const dir = await mkdtemp(join(tmpdir(), "azora-releases-"));
    releases.good = await packRelease(dir, "2.0.0");
  }, SLOW);
  beforeEach(async () => {
    token = await freshAccessToken(installation, SLOW);
  }, 60_000);
  afterAll(async () => {
    await agent.close();
    await installation?.stop();
  });

  it("rollback.sh during a canary's steps aborts the canary: all traffic back on the stable version at once, 0 failed requests", async () => {
    // Run alone (-t rollback.sh), the first deploy is made here: a canary needs a live colour to start beside.
    if (!(await route())) await deployFirst();
    const live = (await route()).active as "blue" | "green";
    const canary = live === "blue" ? "green" : "blue";
    const traffic = loop();
    // An hour per step: without the rollback the canary would stay at 10 % for the whole test.
    const deploying = script("canary-deploy.sh", ["staging", releases.good!, "--analysis-seconds", "3600", "--keep-warm-seconds", "0"]);
    await waitUntil(async () => {
      const { deploy } = await localState();
      return (deploy?.phase === "canary" && deploy.step === "canary 10 %" && (await usersRoute())?.canary_weight === 10) || undefined;
    }, "the canary to take 10 % of the traffic", 400_000);
    const started = performance.now();
    const rolling = script("rollback.sh", ["staging", "Canary latency regression"]);
    const switchMs = await switchedWithin(live, rolling);
    const back = await rolling;
    console.log(`rollback.sh during a canary step: routes back on ${live} ${switchMs} ms after the start, command done after ${Math.round(performance.now() - started)} ms`);
    const deployed = await deploying;
    const { total, failures } = await traffic.stop();
    expect(back.stderr).toMatch(/The canary of .*azora-os-2\.0\.0\.tgz \(.*\) is at "canary 10 %": asked it to abort and put all traffic back on /);
    expect(back.stdout).toMatch(/Rolled back local staging .* \(was .*azora-os-2\.0\.0\.tgz; canary aborted at canary 10 %, all traffic back on the stable version\): Canary latency regression/);
    expect(back.code).toBe(0);
    expect(deployed.stderr).toMatch(/Rollback requested by .* at "canary 10 %": Canary latency regression\. Aborting the canary/);
    expect(deployed.stderr).not.toMatch(/canary 25 %|switch traffic to the preview/);
    expect(deployed.code).toBe(1);
    expect(failures).toEqual([]);
    expect(total).toBeGreaterThan(0);
    expect(await route()).toMatchObject({ active: live, canaryWeight: 0 });
    const state = await status();
    expect(state).toMatchObject({ live, lock: null, sets: { [canary]: { version: "azora-os-2.0.0", running: false } }, lastDeploy: { phase: "rolled_back", strategy: "canary", reason: "Canary latency regression" } });
    expect((await auditRows()).slice(-2)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: "deploy.rolled_back", details: expect.objectContaining({ automatic: false, failedStep: "canary 10 %", abortedCanary: true, reason: "Canary latency regression" }) }),
        expect.objectContaining({ action: "deploy.rollback", details: expect.objectContaining({ duringDeploy: true, abortedCanary: true, step: "canary 10 %", reason: "Canary latency regression" }) }),
      ]),
    );
  }, SLOW);

  it("a git ref from the repository the command runs in: each deploy runs the commit the ref names then, and traffic reaches it", async () => {
    const repo = await gitReleaseRepo();
    const first = await repo.commit("release/2.1 first");
    await repo.git("tag", "-a", "v2.1.0", "-m", "2.1.0");
    await repo.git("branch", "release/2.1");
    // A tag is a version as the guide writes it; checked without deploying it (the branch below is the same commit).
    const planned = await script("blue-green-deploy.sh", ["staging", "v2.1.0", "--dry-run"], repo.dir);
    expect(planned.stdout).toMatch(/Would deploy v2\.1\.0 to local staging/);
    const deployRef = async (ref: string) => {
      const traffic = loop();
      const result = await script("blue-green-deploy.sh", ["staging", ref, ...quick], repo.dir);
      const outcome = await traffic.stop();
      expect(result.stderr).not.toMatch(/failed at/);
      expect(result.code).toBe(0);
      expect(outcome.failures).toEqual([]);
      return result;
    };

    expect((await deployRef("release/2.1")).stdout).toMatch(/Deployed release\/2\.1 to local staging/);
    expect(await servedBy("release/2.1 first")).toBe("release/2.1 first");
    const firstColour = (await route()).active as "blue" | "green";
    expect((await status()).sets[firstColour]).toMatchObject({ version: `release/2.1@${first.slice(0, 12)}`, commit: first, running: true });

    // The branch moves on; deployed again, it is the new commit that serves, not the directory the first one left.
    await repo.git("checkout", "-q", "release/2.1");
    const second = await repo.commit("release/2.1 second");
    await deployRef("release/2.1");
    expect(await servedBy("release/2.1 second")).toBe("release/2.1 second");
    const secondColour = (await route()).active as "blue" | "green";
    expect(secondColour).not.toBe(firstColour);
    expect((await status()).sets[secondColour]).toMatchObject({ version: `release/2.1@${second.slice(0, 12)}`, commit: second, running: true });

    // Rolled back once its processes are gone, the first release starts again from its own commit.
    const back = await script("rollback.sh", ["staging", "Second build misbehaves"]);
    expect(back.stderr).toMatch(/release\/2\.1@\w{12} is no longer warm: starting it again/);
    expect(back.code).toBe(0);
    expect(await servedBy("release/2.1 first")).toBe("release/2.1 first");
    expect((await auditRows()).at(-1)).toMatchObject({ action: "deploy.rollback", details: { to: `release/2.1@${first.slice(0, 12)}`, reason: "Second build misbehaves" } });
  }, SLOW);
});
