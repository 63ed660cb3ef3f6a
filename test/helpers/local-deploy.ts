// The installation the local deploy target works on (test/deploy-local-*.test.ts): PostgreSQL + Redis in split
// mode, the operator's configured services and gateway as real `azora serve` processes, one user, and the
// guide's scripts run against it as the operator runs them.
import { execFile, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { request, type Agent } from "undici";
import { expect } from "vitest";
import { apiClient } from "./api.ts";
import { backends, queryOnce } from "./backends.ts";
import { isAlive } from "./child-platform.ts";
import { repoRoot, runCli, spawnCli, type RunningCli } from "./cli.ts";
import { azora } from "./in-process-cli.ts";
import { splitModeEnv } from "./platform.ts";

/** The local target runs split mode on a shared database: only the PostgreSQL + Redis backend has one. */
export const localDeployBackend = backends().find((backend) => backend.name === "postgres+redis");

/** Blue-green and canary options that keep a deploy short: 3 s analysis windows, the old set stopped at once. */
export const quick = ["--analysis-seconds", "3", "--keep-warm-seconds", "0"];

export interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LocalInstallation {
  env: Record<string, string>;
  gatewayUrl: string;
  user: { email: string; password: string; id: string; accessToken: string };
  /** Starts one of deployment/'s scripts in `cwd` (the repository by default); `child` takes signals. */
  start(name: string, args: string[], cwd?: string): { child: ChildProcess; done: Promise<ScriptRun> };
  /** The same, to its end. */
  script(name: string, args: string[], cwd?: string): Promise<ScriptRun>;
  /**
   * `azora deploy status --target local --json`. In this process unless `child`: the suites read it after every
   * step, and a CLI process costs a second of CPU to start; each suite also reads it once through a real process.
   */
  status(options?: { child?: boolean }): Promise<any>;
  /** The users route from `azora traffic status --json` (undefined before the first deploy); `child` as for status. */
  route(options?: { child?: boolean }): Promise<any>;
  query(sql: string): Promise<any[]>;
  /** The users route as the gateways read it, straight from the database (cheap enough for a polling loop). */
  usersRoute(): Promise<{ active: string; canary_weight: number } | undefined>;
  /** DATA_DIR/state/deploy-local.json as the deploy writes it. */
  localState(): Promise<any>;
  /** Kills every process it started and every process set a deploy left, then drops the database. */
  stop(): Promise<void>;
}

/**
 * Provisions a database, migrates it and starts the operator's auth, users and gateway (`azora serve`), each at
 * the URL the next one is configured with, then registers one user through the gateway.
 */
export async function startLocalInstallation(label: string): Promise<LocalInstallation> {
  const provisioned = await localDeployBackend!.provision();
  const processes: RunningCli[] = [];
  // The upstream deadline is the drain's length too; 3 s was short enough for a users service on a machine
  // with a load average of 30 to miss it (three 504s in the loop of the first deploy), which is load, not a
  // deploy failure. 10 s keeps the drains short and the loops' verdict about the deploy.
  const env = await splitModeEnv(provisioned.env, label, { LOG_STDOUT: "false", AZORA_DEPLOY_TARGET: "local", RATE_LIMIT_READ: "10000000", RATE_LIMIT_AUTH: "100000", TRAFFIC_POLL_MS: "100", UPSTREAM_TOTAL_TIMEOUT_MS: "10000" });
  const serve = async (service: string) => {
    const run = spawnCli(["serve", service], env);
    processes.push(run);
    return (await run.waitFor(/(?:API|Auth|Users):\s+(http:\/\/\S+)/))[1]!;
  };
  const json = async (args: string[], child: boolean) => {
    const result = child ? await runCli(args, env) : await azora(args, env);
    if (result.code !== 0) throw new Error(`azora ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout);
  };
  const query = (sql: string) => queryOnce(env.DATABASE_URL ?? "", sql);
  const status = (options: { child?: boolean } = {}) => json(["deploy", "status", "--target", "local", "--json"], options.child ?? false);
  const start = (name: string, args: string[], cwd = repoRoot) => {
    let child!: ChildProcess;
    const done = new Promise<ScriptRun>((resolve) => {
      child = execFile(join(repoRoot, "deployment", name), args, { cwd, env: { ...env, PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" }, timeout: 400_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    return { child, done };
  };
  const stop = async () => {
    const state = await status().catch(() => undefined);
    for (const set of Object.values(state?.sets ?? {}) as { processes: { pid: number }[] }[]) for (const each of set.processes) if (isAlive(each.pid)) process.kill(each.pid, "SIGKILL");
    for (const run of processes) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    await provisioned.dispose();
  };

  try {
    const migrated = await azora(["migrate"], env);
    if (migrated.code !== 0) throw new Error(`azora migrate exited ${migrated.code}: ${migrated.stderr}`);
    // What runs before any deploy: the operator's services at their configured URLs, and the gateway in front.
    env.AUTH_URL = await serve("auth");
    env.USERS_URL = await serve("users");
    const gatewayUrl = await serve("gateway");
    const user = await apiClient(gatewayUrl).newUser(label);
    return {
      env,
      gatewayUrl,
      user,
      start,
      script: (name, args, cwd) => start(name, args, cwd).done,
      status,
      route: async (options = {}) => (await json(["traffic", "status", "--json"], options.child ?? false)).users,
      query,
      usersRoute: async () => (await queryOnce<{ active: string; canary_weight: number }>(env.DATABASE_URL ?? "", "SELECT active, canary_weight FROM traffic_routes WHERE upstream = 'users'"))[0],
      localState: async () => JSON.parse(await readFile(join(env.DATA_DIR!, "state", "deploy-local.json"), "utf8").catch(() => "{}")),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Requests through the operator's gateway until stopped, one loop per entry of `upstreams` ("users" reads the
 * user's profile, "auth" /api/auth/me; both routes move in a deploy); every answer that is not 200 is a failure.
 */
export function requestLoop(installation: LocalInstallation, agent: Agent, token: () => string, upstreams: ("users" | "auth")[] = ["users", "users", "users", "users", "auth"]) {
  let running = true;
  const failures: string[] = [];
  let total = 0;
  const done = Promise.all(
    upstreams.map(async (upstream) => {
      const target = upstream === "auth" ? "/api/auth/me" : `/api/user/${installation.user.id}`;
      while (running) {
        try {
          const response = await request(new URL(target, installation.gatewayUrl), { dispatcher: agent, headers: { authorization: `Bearer ${token()}` } });
          await response.body.dump();
          if (response.statusCode !== 200) failures.push(upstream === "auth" ? `auth ${response.statusCode}` : String(response.statusCode));
        } catch (error) {
          failures.push((error as Error).message);
        }
        total++;
      }
    }),
  );
  return {
    async stop() {
      running = false;
      await done;
      return { total, failures };
    },
  };
}

/** The x-release-marker of an answer through the operator's gateway: which release's users service served it. */
export async function releaseMarker(installation: LocalInstallation, agent: Agent, token: string): Promise<{ status: number; marker: string }> {
  const response = await request(new URL(`/api/user/${installation.user.id}`, installation.gatewayUrl), { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
  await response.body.dump();
  return { status: response.statusCode, marker: String(response.headers["x-release-marker"] ?? "(none)") };
}

/** A change to users.app.ts that marks every answer of the release's users service with header x-release-marker. */
export const markedRelease = (marker: string) => ({
  file: "src/services/users/users.app.ts",
  from: "    register: (app) => {\n",
  to: `    register: (app) => {\n      app.addHook("onRequest", async (_request, reply) => void reply.header("x-release-marker", ${JSON.stringify(marker)}));\n`,
});

/** A blue-green of `release` under a request loop (its analysis windows need requests), for a test that needs a live deploy first. */
export async function deployUnderTraffic(installation: LocalInstallation, loop: () => ReturnType<typeof requestLoop>, release: string): Promise<void> {
  const traffic = loop();
  const result = await installation.script("blue-green-deploy.sh", ["staging", release, ...quick]);
  await traffic.stop();
  expect(result.stderr).not.toMatch(/failed at/);
  expect(result.code).toBe(0);
}

/** Milliseconds from now until the users route sends everything to `colour` (read from the database, as the gateways read it); -1 if `command` ended first. */
export async function routeSwitchedWithin(installation: LocalInstallation, colour: string, command: Promise<unknown>): Promise<number> {
  const started = performance.now();
  let ended = false;
  void command.finally(() => (ended = true));
  const client = new pg.Client({ connectionString: installation.env.DATABASE_URL });
  await client.connect();
  try {
    for (;;) {
      // A command that ended without moving the route fails the test on its own result, not by a hang here.
      if (ended) await new Promise((resolve) => setTimeout(resolve, 500));
      const last = ended;
      const { rows } = await client.query("SELECT active, canary_weight FROM traffic_routes WHERE upstream = 'users'");
      if (rows[0]?.active === colour && rows[0]?.canary_weight === 0) return Math.round(performance.now() - started);
      if (last) return -1;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await client.end();
  }
}

/**
 * An access token for one test: a token lasts 15 minutes and a suite takes longer on a loaded machine, so each test
 * logs in for its own, which must outlive the test's limit.
 */
export async function freshAccessToken(installation: LocalInstallation, testLimitMs: number): Promise<string> {
  const login = await apiClient(installation.gatewayUrl).call("POST", "/api/auth/login", { json: { email: installation.user.email, password: installation.user.password } });
  expect(login.status).toBe(200);
  expect(login.body.expiresIn * 1000).toBeGreaterThan(testLimitMs);
  return login.body.accessToken;
}
