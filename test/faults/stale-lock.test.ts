import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { runCli, spawnCli, type RunningCli } from "../helpers/cli.ts";
import { makeDataDir } from "../helpers/platform.ts";

/**
 * A container's platform runs as PID 1; after kill -9 and a restart the new process is PID 1 again, so
 * the dead holder's PID is alive. Here the dead holder's PID is replaced by a live one (this test's
 * runner) to make that happen on one machine.
 */
describe("a lock left by a killed process whose PID now belongs to a live process", () => {
  const started: RunningCli[] = [];
  let dataDir: string;
  afterAll(async () => {
    for (const run of started) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const up = async (env: Record<string, string>) => {
    const run = spawnCli(["up"], env);
    started.push(run);
    const [, gatewayUrl = ""] = await run.waitFor(/API:\s+(http:\/\/\S+)/, 240_000);
    return { run, api: apiClient(gatewayUrl) };
  };
  const killAndReusePid = async (run: RunningCli) => {
    run.child.kill("SIGKILL");
    await run.exited;
    const file = join(dataDir, "state", "data.lock.holder.json");
    const holder = JSON.parse(await readFile(file, "utf8")) as { pid: number };
    expect(holder.pid).toBe(run.child.pid);
    await writeFile(file, JSON.stringify({ ...holder, pid: process.pid }));
  };

  it("is recovered by the CLI (which runs the command itself) and by azora up", async () => {
    dataDir = await makeDataDir();
    const env = { DATA_DIR: dataDir, HOST: "127.0.0.1", PORT: "0", OPS_PORT: "0" };
    const first = await up(env);
    const user = await first.api.newUser("reused");
    await killAndReusePid(first.run);

    const promote = await runCli(["user", "promote", user.email], env);
    expect(promote.stderr).not.toMatch(/fetch failed|ECONNREFUSED|\n\s+at /);
    expect(promote.stdout).toContain(`${user.email} is now an admin.`);
    expect(promote.code).toBe(0);

    const second = await up(env);
    await killAndReusePid(second.run);
    const third = await up(env);
    expect(third.run.stderr()).toContain(`Recovered a stale lock left by process ${process.pid}`);
    const login = await third.api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } });
    expect((await third.api.get("/api/auth/me", login.body.accessToken)).body.role).toBe("admin");
    third.run.child.kill("SIGTERM");
    expect(await third.run.exited).toEqual({ code: 0, signal: null });
  }, 900_000);
});
