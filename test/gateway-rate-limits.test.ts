import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, expectErrorShape, metricValue, type ApiResponse } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { runCli, spawnCli, type RunningCli } from "./helpers/cli.ts";
import { makeDataDir, startTestPlatform, type TestPlatform } from "./helpers/platform.ts";
import { startOwnRedis } from "./helpers/redis-server.ts";
import { toolAvailability } from "./helpers/tools.ts";
import { waitUntil } from "./helpers/wait.ts";

const postgres = backends().find((backend) => backend.name === "postgres+redis");
const redisServer = toolAvailability("redis-server", "redis-server");

/** A request the auth service answers at once (400, the body is missing): only the gateway's limit can refuse it. */
const cheapAuthRequest = (baseUrl: string) => apiClient(baseUrl).call("POST", "/api/auth/register", { json: {} });

const countEvents = async (logFile: string, event: string) => {
  const text = await readFile(logFile, "utf8").catch(() => "");
  return text.split("\n").filter((line) => line.includes(`"event":"${event}"`)).length;
};

describe.runIf(postgres)("rate limits shared through Redis by two gateway processes", () => {
  const processes: RunningCli[] = [];
  let dispose: () => Promise<void> = async () => undefined;
  let gateways: { url: string; ops: string; logFile: string }[] = [];
  const limit = 40;

  beforeAll(async () => {
    const provisioned = await postgres!.provision();
    dispose = provisioned.dispose;
    const dataDir = await makeDataDir();
    const env = {
      ...provisioned.env,
      DATA_DIR: dataDir,
      HOST: "127.0.0.1",
      PORT: "0",
      OPS_PORT: "0",
      AZORA_MASTER_KEY: "rate-limit-test-master-key-0123456789abcdef",
      AZORA_OPS_TOKEN: "rate-limit-test-ops-token-0123456789abcdef",
      RATE_LIMIT_AUTH: String(limit),
      RATE_LIMIT_WINDOW_SECONDS: "600",
    };
    expect((await runCli(["migrate"], env)).code).toBe(0);
    const auth = spawnCli(["serve", "auth"], env);
    processes.push(auth);
    const [, authUrl = ""] = await auth.waitFor(/Auth:\s+(http:\/\/\S+)/, 120_000);
    for (const name of ["one", "two"]) {
      const logDir = join(dataDir, `logs-${name}`);
      const gateway = spawnCli(["serve", "gateway"], { ...env, AUTH_URL: authUrl, USERS_URL: authUrl, LOG_DIR: logDir });
      processes.push(gateway);
      const [, url = ""] = await gateway.waitFor(/API:\s+(http:\/\/\S+)/, 120_000);
      const [, ops = ""] = await gateway.waitFor(/Ops:\s+(http:\/\/\S+)/, 120_000);
      gateways.push({ url, ops, logFile: join(logDir, "api.log") });
    }
  }, 300_000);
  afterAll(async () => {
    for (const run of processes) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    await dispose();
  });

  it("admits no more than the limit across both, at least 90 % of it, and logs every refusal", async () => {
    const total = limit * 3;
    const answers: ApiResponse[] = [];
    let next = 0;
    // Eight clients at once from one IP, alternating between the two gateways.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < total) {
          const index = next++;
          answers.push(await cheapAuthRequest(gateways[index % 2]!.url));
        }
      }),
    );
    const refused = answers.filter((answer) => answer.status === 429);
    const admitted = answers.length - refused.length;
    expect(admitted).toBeLessThanOrEqual(limit);
    expect(admitted).toBeGreaterThanOrEqual(Math.ceil(limit * 0.9));
    expect(answers.filter((answer) => answer.status !== 429).every((answer) => answer.status === 400)).toBe(true);
    for (const answer of refused) {
      expectErrorShape(answer, 429, "rate_limited");
      expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(answer.headers.get("ratelimit-limit")).toBe(String(limit));
      expect(answer.headers.get("ratelimit-remaining")).toBe("0");
    }
    const admittedOne = answers.find((answer) => answer.status === 400);
    expect(admittedOne?.headers.get("ratelimit-policy")).toBe(`${limit};w=600`);

    // Every refusal is one RATE_LIMIT_EXCEEDED line in the api.log of the process that refused it.
    await waitUntil(async () => {
      const logged = (await countEvents(gateways[0]!.logFile, "RATE_LIMIT_EXCEEDED")) + (await countEvents(gateways[1]!.logFile, "RATE_LIMIT_EXCEEDED"));
      return logged === refused.length ? true : undefined;
    }, `${refused.length} RATE_LIMIT_EXCEEDED lines`);
    const line = (await readFile(gateways[0]!.logFile, "utf8")).split("\n").find((text) => text.includes("RATE_LIMIT_EXCEEDED"));
    expect(JSON.parse(line ?? "{}")).toMatchObject({ ip: "127.0.0.1", route: "/api/auth/register", routeGroup: "auth" });

    let counted = 0;
    for (const gateway of gateways) {
      const exposition = await (await fetch(`${gateway.ops}/metrics`)).text();
      counted += metricValue(exposition, "azora_rate_limited_total", { route_group: "auth" });
    }
    expect(counted).toBe(refused.length);
  });
});

describe.runIf(redisServer.run)("rate limits when Redis goes away and comes back", () => {
  let platform: TestPlatform;
  let redis: Awaited<ReturnType<typeof startOwnRedis>>;

  beforeAll(async () => {
    redis = await startOwnRedis();
    platform = await startTestPlatform(backends()[0]!, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: "limits:", RATE_LIMIT_AUTH: "1000" });
  });
  afterAll(async () => {
    await platform?.stop();
    await redis?.stop();
  });

  const publicHealth = async () => (await fetch(`${platform.baseUrl}/health`)).json() as Promise<{ status: string }>;

  it("keeps serving on local budgets, says degraded, and is healthy again without a restart", async () => {
    // Healthy first (on a busy machine the very first upstream health calls may still time out).
    await waitUntil(async () => ((await publicHealth()).status === "ok" ? true : undefined), "/health ok before Redis stops", 60_000);
    expect((await cheapAuthRequest(platform.baseUrl)).headers.get("ratelimit-remaining")).toBe("999");

    await redis.stop();
    for (let i = 0; i < 30; i++) {
      const answer = await cheapAuthRequest(platform.baseUrl);
      expect(answer.status).toBe(400);
      // Still limited, now by this process's own budget.
      expect(Number(answer.headers.get("ratelimit-remaining"))).toBeLessThan(1000);
    }
    // Public /health is computed at most once a second: the answer before Redis stopped may still be served.
    await waitUntil(async () => ((await publicHealth()).status === "degraded" ? true : undefined), "/health degraded while Redis is down", 15_000);
    expect((await fetch(`${platform.baseUrl}/health`)).status).toBe(200);

    await redis.start();
    await waitUntil(async () => ((await publicHealth()).status === "ok" ? true : undefined), "/health ok after Redis returned", 60_000);
    // The shared budget is used again: this Redis came back empty, so the count starts over there.
    expect((await cheapAuthRequest(platform.baseUrl)).headers.get("ratelimit-remaining")).toBe("999");
    const client = new Redis(redis.url);
    expect(await client.keys("limits:rl:auth*")).toHaveLength(1);
    client.disconnect();
  });
});

describe.each(backends())("per-user and per-IP budgets ($name)", (backend) => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform(backend, { RATE_LIMIT_READ: "5" });
  });
  afterAll(async () => platform?.stop());

  it("counts each user's reads on their own budget, and bad tokens on the IP's", async () => {
    const api = apiClient(platform.baseUrl);
    const alice = await api.newUser("alice"); // newUser reads /api/auth/me once
    const bob = await api.newUser("bob");
    for (let i = 0; i < 4; i++) expect((await api.get("/api/auth/me", alice.accessToken)).status).toBe(200);
    const refused = await api.get("/api/auth/me", alice.accessToken);
    expectErrorShape(refused, 429, "rate_limited");
    expect((await api.get("/api/auth/me", bob.accessToken)).status).toBe(200);

    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await api.get("/api/auth/me", "not-a-token")).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);

    const exposition = await (await fetch(`${platform.opsUrl}/metrics`)).text();
    expect(metricValue(exposition, "azora_rate_limited_total", { route_group: "read" })).toBe(2);
  });
});
