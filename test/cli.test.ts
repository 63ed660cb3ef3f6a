import { connect } from "node:net";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { repoRoot, runCli, spawnCli, type RunningCli } from "./helpers/cli.ts";
import { makeDataDir } from "./helpers/platform.ts";

/** The real `azora` executable, in child processes, on one embedded data directory. */
describe("azora up on the embedded default", () => {
  let dataDir: string;
  let env: Record<string, string>;
  const started: RunningCli[] = [];

  const up = async () => {
    const run = spawnCli(["up"], env);
    started.push(run);
    const [, gatewayUrl] = await run.waitFor(/API:\s+(http:\/\/\S+)/);
    const [, opsUrl] = await run.waitFor(/Ops:\s+(http:\/\/\S+)/);
    return { run, gatewayUrl: gatewayUrl ?? "", opsUrl: opsUrl ?? "", api: apiClient(gatewayUrl ?? "") };
  };
  const stop = async (run: RunningCli) => {
    run.child.kill("SIGTERM");
    return run.exited;
  };

  beforeAll(async () => {
    dataDir = await makeDataDir();
    env = { DATA_DIR: dataDir, HOST: "127.0.0.1", PORT: "0", OPS_PORT: "0" };
  });
  afterAll(async () => {
    for (const run of started) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    await rm(dataDir, { recursive: true, force: true });
  });

  it("starts, answers /health, and keeps users and content across a restart", async () => {
    const first = await up();
    const health = await first.api.get("/health");
    expect(health.status).toBe(200);
    const user = await first.api.newUser("persist");
    const item = await first.api.call("POST", "/api/content", { token: user.accessToken, json: { title: "kept" } });
    expect(item.status).toBe(201);
    expect(await stop(first.run)).toEqual({ code: 0, signal: null });

    const second = await up();
    const login = await second.api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } });
    expect(login.status).toBe(200);
    const read = await second.api.get(`/api/content/${item.body.id}`, login.body.accessToken);
    expect(read.body.title).toBe("kept");
    // Tokens issued before the restart still verify: the signing key is persisted (encrypted).
    expect((await second.api.get("/api/auth/me", user.accessToken)).status).toBe(200);
    expect(await stop(second.run)).toEqual({ code: 0, signal: null });
  });

  it("refuses a second azora up on the same data directory", async () => {
    const first = await up();
    const second = await runCli(["up"], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/already running on .* \(pid \d+, ops port \d+\)/);
    expect((await first.api.get("/health")).status).toBe(200);
    await stop(first.run);
  });

  it("runs azora user promote inside the running process, and in-process when nothing runs", async () => {
    const running = await up();
    const alice = await running.api.newUser("alice");
    const bob = await running.api.newUser("bob");
    const promoted = await runCli(["user", "promote", alice.email], env);
    expect(promoted.stdout).toContain(`${alice.email} is now an admin.`);
    expect(promoted.code).toBe(0);
    expect((await running.api.get("/api/auth/me", alice.accessToken)).body.role).toBe("admin");
    expect((await running.api.get(`/api/user/${bob.id}`, alice.accessToken)).status).toBe(200);
    const unknown = await runCli(["user", "promote", "nobody@example.com"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("No user with the email nobody@example.com");
    await stop(running.run);

    const offline = await runCli(["user", "promote", bob.email, "--json"], env);
    expect(offline.code).toBe(0);
    expect(JSON.parse(offline.stdout)).toMatchObject({ email: bob.email, role: "admin", changed: true });

    const again = await up();
    const aliceLogin = await again.api.call("POST", "/api/auth/login", { json: { email: alice.email, password: alice.password } });
    expect((await again.api.get("/api/auth/me", aliceLogin.body.accessToken)).body.role).toBe("admin");
    const bobLogin = await again.api.call("POST", "/api/auth/login", { json: { email: bob.email, password: bob.password } });
    expect((await again.api.get("/api/auth/me", bobLogin.body.accessToken)).body.role).toBe("admin");
    await stop(again.run);
  });

  it("recovers the lock left by a process killed with SIGKILL", async () => {
    const first = await up();
    first.run.child.kill("SIGKILL");
    await first.run.exited;
    const lock = JSON.parse(await readFile(join(dataDir, "state", "data.lock.holder.json"), "utf8")) as { pid: number };
    expect(lock.pid).toBe(first.run.child.pid);
    const second = await up();
    expect(second.run.stderr()).toContain(`Recovered a stale lock left by process ${first.run.child.pid}`);
    expect((await second.api.get("/health")).status).toBe(200);
    await stop(second.run);
  });

  it("finishes an in-flight request after SIGTERM, then exits 0", async () => {
    const running = await up();
    const { hostname, port } = new URL(running.gatewayUrl);
    const body = JSON.stringify({ email: "inflight@example.com", password: "in flight password" });
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    let response = "";
    socket.on("data", (chunk) => (response += chunk.toString()));
    socket.write(`POST /api/auth/register HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
    socket.write(body.slice(0, 10));
    await new Promise((resolve) => setTimeout(resolve, 200));
    running.run.child.kill("SIGTERM");
    await running.run.waitFor(/Received SIGTERM/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(running.run.child.exitCode).toBeNull(); // still draining, waiting for our request
    socket.write(body.slice(10));
    const exit = await running.run.exited;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(response).toMatch(/^HTTP\/1\.1 202 /);
    expect(response).toContain('{"status":"accepted"}');
    expect(exit).toEqual({ code: 0, signal: null });
    socket.destroy();
  });

  it("health-check and the guide's scripts/health-check.sh exit 0 only while everything is healthy", async () => {
    const running = await up();
    const port = new URL(running.gatewayUrl).port;
    const checkEnv = { ...env, PORT: port };
    const json = await runCli(["health-check", "--json"], checkEnv);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as { status: string; components: { component: string; status: string }[] };
    expect(report.status).toBe("ok");
    expect(report.components.map((row) => row.component).sort()).toEqual(["auth", "cache", "database", "gateway", "gateway (public)", "logs", "users"]);
    const script = await runCli([], checkEnv, join(repoRoot, "scripts/health-check.sh"));
    expect(script.stdout).toContain("All components healthy.");
    expect(script.code).toBe(0);
    await stop(running.run);

    const down = await runCli(["health-check"], checkEnv);
    expect(down.code).toBe(1);
    expect(down.stdout).toContain("Some components are DOWN.");
  });
});

describe("azora config check", () => {
  it("reports every bad variable at once and exits 1", async () => {
    const result = await runCli(["config", "check"], { PORT: "eighty", OPS_PORT: "-1", LOG_LEVEL: "loud", DATABASE_URL: "mysql://x", LOG_STDOUT: "maybe" });
    expect(result.code).toBe(1);
    for (const variable of ["PORT", "OPS_PORT", "LOG_LEVEL", "DATABASE_URL", "LOG_STDOUT"]) expect(result.stderr).toContain(`- ${variable}:`);
    expect(result.stderr).toContain("Configuration is invalid (5 problems)");
  });

  it("accepts the embedded default with no variables at all", async () => {
    const result = await runCli(["config", "check"], {});
    expect(result.stdout).toContain("Configuration is valid (database: embedded, cache: in-process)");
    expect(result.code).toBe(0);
  });

  it("refuses to start a service on bad configuration, with the same report", async () => {
    const result = await runCli(["up"], { PORT: "99999" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("- PORT:");
  });

  it("explains unknown commands and bad arguments with a non-zero exit", async () => {
    const unknown = await runCli(["frobnicate"], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command");
    const missing = await runCli(["user", "promote"], {});
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument");
  });
});
