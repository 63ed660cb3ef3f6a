import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { runCli, spawnCli, type RunningCli } from "./helpers/cli.ts";
import { splitModeEnv } from "./helpers/platform.ts";

// Production runs one service per process on a shared PostgreSQL and Redis.
const postgres = backends().find((backend) => backend.name === "postgres+redis");

describe.runIf(postgres)("azora serve: one service per process on PostgreSQL and Redis", () => {
  const processes: RunningCli[] = [];
  let env: Record<string, string>;
  let dispose: () => Promise<void> = async () => undefined;

  const serve = async (service: string, extra: Record<string, string>, label: RegExp) => {
    const run = spawnCli(["serve", service], { ...env, ...extra });
    processes.push(run);
    const [, url] = await run.waitFor(label);
    return url ?? "";
  };

  beforeAll(async () => {
    const provisioned = await postgres!.provision();
    dispose = provisioned.dispose;
    // A shared master key and ops token, as a Kubernetes Secret would provide them.
    env = await splitModeEnv(provisioned.env, "split-mode");
  });
  afterAll(async () => {
    for (const run of processes) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    await dispose();
  });

  it("refuses to serve before the schema exists, then azora migrate applies it once", async () => {
    const early = await runCli(["serve", "auth"], env);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain("run `azora migrate`");
    const first = await runCli(["migrate", "--json"], env);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout).applied.length).toBeGreaterThanOrEqual(3);
    const second = await runCli(["migrate"], env);
    expect(second.stdout).toContain("Database is up to date");
  });

  it("serves the API through a gateway in front of separate auth and users processes", async () => {
    const authUrl = await serve("auth", {}, /Auth:\s+(http:\/\/\S+)/);
    const usersUrl = await serve("users", { AUTH_URL: authUrl }, /Users:\s+(http:\/\/\S+)/);
    const gatewayUrl = await serve("gateway", { AUTH_URL: authUrl, USERS_URL: usersUrl }, /API:\s+(http:\/\/\S+)/);
    const api = apiClient(gatewayUrl);
    expect((await api.get("/health")).status).toBe(200);
    const user = await api.newUser("split");
    const read = await api.get(`/api/user/${user.id}`, user.accessToken);
    expect(read.status).toBe(200);
    expect((await api.get(`/api/user/${user.id}`, user.accessToken)).headers.get("x-cache")).toBe("HIT");

    const promoted = await runCli(["user", "promote", user.email], env);
    expect(promoted.code).toBe(0);
    expect((await api.get(`/api/user/${user.id}`, user.accessToken)).body.role).toBe("admin");

    for (const run of processes.splice(0).reverse()) {
      run.child.kill("SIGTERM");
      expect(await run.exited).toEqual({ code: 0, signal: null });
    }
  });

  it("says what is missing when a service is started without PostgreSQL", async () => {
    const result = await runCli(["serve", "users"], { DATA_DIR: env.DATA_DIR ?? "", PORT: "0", OPS_PORT: "0" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("needs a shared PostgreSQL: set DATABASE_URL");
  });
});
