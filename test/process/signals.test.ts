import { access, readFile, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { eventually, isAlive, startChildPlatform, type ChildPlatform } from "../helpers/child-platform.ts";
import { spawnCli } from "../helpers/cli.ts";
import { keepAliveLoginsThrough } from "../helpers/keep-alive-logins.ts";
import { makeDataDir } from "../helpers/platform.ts";

// Signals are the same whatever the backend, so these run on the embedded default only: what is under
// test is the process tree and its listeners, started the way a supervisor starts them.
describe("signals from supervisors", () => {
  let platform: ChildPlatform | undefined;
  afterEach(async () => {
    await platform?.dispose();
    platform = undefined;
  });

  it("SIGTERM to the PID of `npm start` drains and exits 0, and no process of the tree is left serving", async () => {
    platform = await startChildPlatform({ via: "npm" });
    const { baseUrl, tree } = platform;
    expect((await fetch(new URL("/health", baseUrl))).status).toBe(200);
    expect(tree.length).toBeGreaterThan(1);

    process.kill(platform.pid, "SIGTERM");
    const exit = await platform.run.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(platform.run.stderr()).toContain("Received SIGTERM");
    expect(await eventually(() => tree.every((pid) => !isAlive(pid)), 10_000)).toBe(true);
    await expect(fetch(new URL("/health", baseUrl))).rejects.toThrow();
  }, 900_000);

  it("SIGTERM during 200 keep-alive logins: every client is let go with `Connection: close`, none is reset", async () => {
    platform = await startChildPlatform({ via: "azora", env: { SHUTDOWN_TIMEOUT_MS: "120000", RATE_LIMIT_AUTH: "0" } });
    const running = platform;
    const outcomes = await keepAliveLoginsThrough(running.baseUrl, 200, () => process.kill(running.pid, "SIGTERM"));
    // A refused connection was never accepted (nothing was sent); a reset is a request lost in the drain.
    expect(outcomes.reset).toBe(0);
    expect(outcomes.closed + outcomes.refused).toBe(200);
    expect(await running.run.exited).toEqual({ code: 0, signal: null });
  }, 900_000);

  it("SIGHUP reopens the log files: after `mv api.log api.log.1`, new lines go to a new api.log and the process keeps serving", async () => {
    platform = await startChildPlatform({ via: "azora" });
    const logDir = join(platform.dataDir, "logs");
    const api = apiClient(platform.baseUrl);
    await api.get("/api/before-rotation");
    await rename(join(logDir, "api.log"), join(logDir, "api.log.1"));

    process.kill(platform.pid, "SIGHUP");
    // The reopen is the first line of the new file; what is logged after it lands there too.
    const newFile = () => readFile(join(logDir, "api.log"), "utf8").catch(() => "");
    expect(await eventually(async () => (await newFile()).includes('"event":"logs_reopened"'))).toBe(true);
    await api.get("/api/after-rotation");
    expect(await eventually(async () => (await newFile()).includes("/api/after-rotation"))).toBe(true);
    expect(isAlive(platform.pid)).toBe(true);
    const old = await readFile(join(logDir, "api.log.1"), "utf8");
    expect(old).toContain("/api/before-rotation");
    expect(old).not.toContain("/api/after-rotation");
    expect((await stat(join(logDir, "api.log"))).mode & 0o777).toBe(0o640);

    process.kill(platform.pid, "SIGTERM");
    expect(await platform.run.exited).toEqual({ code: 0, signal: null });
  }, 900_000);

  it("during start-up, SIGHUP does not kill the process and SIGTERM stops it cleanly once it is up", async () => {
    const dataDir = await makeDataDir();
    const run = spawnCli(["up"], { DATA_DIR: dataDir, PORT: "0", OPS_PORT: "0", HOST: "127.0.0.1" });
    // The data lock is taken early in start-up, long before the listeners are up.
    const lockTaken = async () => access(join(dataDir, "state", "data.lock")).then(() => true, () => false);
    expect(await eventually(lockTaken, 120_000)).toBe(true);
    run.child.kill("SIGHUP");
    run.child.kill("SIGTERM");
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.stderr()).toContain("Received SIGTERM");
  }, 900_000);
});
