import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { runCli, spawnCli, type RunningCli } from "../helpers/cli.ts";
import { splitModeEnv } from "../helpers/platform.ts";

// Readiness is what the process itself can serve: a dead service behind the gateway is named in health,
// but does not take the gateway (and the routes of the services that still work) out of rotation.
const postgres = backends().find((backend) => backend.name === "postgres+redis");
const SLOW = 300_000;

describe.runIf(postgres)("one upstream dies in split mode", () => {
  const processes: RunningCli[] = [];
  let env: Record<string, string>;
  let dispose: () => Promise<void> = async () => undefined;
  let gateway: { url: string; ops: string };
  let users: RunningCli;

  const serve = async (service: string, extra: Record<string, string>, label: RegExp) => {
    const run = spawnCli(["serve", service], { ...env, ...extra });
    processes.push(run);
    const [, url] = await run.waitFor(label, 180_000);
    const [, ops] = await run.waitFor(/Ops:\s+(http:\/\/\S+)/, 180_000);
    return { run, url: url ?? "", ops: ops ?? "" };
  };
  const ops = async (path: string) => {
    const response = await fetch(new URL(path, gateway.ops), { signal: AbortSignal.timeout(30_000) });
    return { status: response.status, body: (await response.json()) as any };
  };

  beforeAll(async () => {
    const provisioned = await postgres!.provision();
    dispose = provisioned.dispose;
    env = await splitModeEnv(provisioned.env, "upstream-fault");
    expect((await runCli(["migrate"], env)).code).toBe(0);
    const auth = await serve("auth", {}, /Auth:\s+(http:\/\/\S+)/);
    const started = await serve("users", { AUTH_URL: auth.url }, /Users:\s+(http:\/\/\S+)/);
    users = started.run;
    const front = await serve("gateway", { AUTH_URL: auth.url, USERS_URL: started.url }, /API:\s+(http:\/\/\S+)/);
    gateway = { url: front.url, ops: front.ops };
  }, SLOW);
  afterAll(async () => {
    for (const run of processes) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    await dispose();
  }, SLOW);

  it("the gateway's health covers every service process and names their dependencies", async () => {
    const health = await ops("/health");
    expect(health.status).toBe(200);
    expect(health.body.status).toBe("ok");
    expect(health.body.checks.users.status).toBe("ok");
    expect(health.body.checks.users.checks.database.status).toBe("ok");
    expect(health.body.checks.auth.checks.cache.status).toBe("ok");

    const check = await runCli(["health-check", "--json", "--url", gateway.url, "--ops-url", gateway.ops], env);
    expect(check.code).toBe(0);
    const components = (JSON.parse(check.stdout) as { components: { component: string }[] }).components.map((row) => row.component);
    expect(components).toEqual(expect.arrayContaining(["auth", "auth.database", "auth.cache", "users", "users.database", "users.cache", "gateway"]));
  }, SLOW);

  it("with the users service dead, the gateway stays ready, names users as down, and auth routes still work", async () => {
    users.child.kill("SIGKILL");
    await users.exited;

    const ready = await ops("/health/ready");
    expect(ready.status).toBe(200);
    const health = await ops("/health");
    expect(health.status).toBe(200);
    expect(health.body.status).toBe("degraded");
    expect(health.body.checks.users.status).toBe("down");
    expect(health.body.checks.auth.status).toBe("ok");

    const api = apiClient(gateway.url);
    const user = await api.newUser("upstream-fault");
    expect((await api.get("/api/auth/me", user.accessToken)).status).toBe(200);
    expect((await api.get(`/api/user/${user.id}`, user.accessToken)).status).toBe(502);

    const check = await runCli(["health-check", "--url", gateway.url, "--ops-url", gateway.ops], env);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^users\s+DOWN/m);
    expect(check.stdout).toMatch(/^Failing: .*\busers DOWN/m);
  }, SLOW);
});
