import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCi } from "../../src/platform/config.ts";
import { apiClient, expectErrorShape } from "../helpers/api.ts";
import { eventually } from "../helpers/free-port.ts";
import { postgresBinDir, startOwnPostgres, type OwnPostgres } from "../helpers/stoppable-postgres.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";

// A database outage is a 503 the client can retry, never a 500 or a hang. PGlite runs inside the process
// and cannot go down on its own, so this fault exists on PostgreSQL: a cluster the test starts and stops.
const binDir = postgresBinDir();
if (binDir === undefined && isCi()) throw new Error("initdb/pg_ctl are missing under CI: .ci/run must apt-get install postgresql");
const SLOW = 300_000;

describe.runIf(binDir !== undefined)("PostgreSQL stopped under a running platform", () => {
  let postgres: OwnPostgres;
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  let user: Awaited<ReturnType<ReturnType<typeof apiClient>["newUser"]>>;
  const ops = async (path: string) => {
    const response = await fetch(new URL(path, platform.opsUrl), { signal: AbortSignal.timeout(30_000) });
    return { status: response.status, body: (await response.json()) as any };
  };

  beforeAll(async () => {
    postgres = await startOwnPostgres(binDir ?? "");
    // A short statement deadline, so the frozen case answers within seconds here (production: 30 s).
    platform = await startTestPlatform({ name: "postgres+redis", provision: async () => ({ env: { DATABASE_URL: postgres.url, DB_QUERY_TIMEOUT_MS: "3000" }, dispose: async () => undefined }) });
    api = apiClient(platform.baseUrl);
    user = await api.newUser("db-fault");
  }, SLOW);
  afterAll(async () => {
    await platform?.stop();
    await postgres?.dispose();
  }, SLOW);

  it("answers 503 database_unavailable with Retry-After, is not ready, names the database, and recovers by itself", async () => {
    await postgres.stop();

    const list = await api.call("GET", "/api/content", { token: user.accessToken });
    expectErrorShape(list, 503, "database_unavailable");
    expect(Number(list.headers.get("retry-after"))).toBeGreaterThan(0);
    const login = await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } });
    expectErrorShape(login, 503, "database_unavailable");
    const write = await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "lost?" } });
    expectErrorShape(write, 503, "database_unavailable");

    const ready = await ops("/health/ready");
    expect(ready.status).toBe(503);
    expect(ready.body.failing).toContain("database");
    const health = await ops("/health");
    expect(health.status).toBe(503);
    expect(health.body.checks.database.status).toBe("down");
    expect(health.body.checks.cache.status).toBe("ok");

    await postgres.start();
    await eventually(async () => ((await ops("/health/ready")).status === 200 ? true : undefined), "ready again", 60_000);
    const again = await api.call("GET", "/api/content", { token: user.accessToken });
    expect(again.status).toBe(200);
    expect(again.body.items).toEqual([]);
  }, SLOW);

  it("a frozen PostgreSQL (no answer, no close) is a 503 too, within the statement deadline, and recovers by itself", async () => {
    expect((await api.call("GET", "/api/content", { token: user.accessToken })).status).toBe(200);
    await postgres.freeze();
    try {
      // The pool's open connections wait on a server that never answers: the deadline ends each statement.
      const list = await api.call("GET", "/api/content", { token: user.accessToken });
      expectErrorShape(list, 503, "database_unavailable");
      expect(Number(list.headers.get("retry-after"))).toBeGreaterThan(0);
      const write = await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "frozen?" } });
      expectErrorShape(write, 503, "database_unavailable");
    } finally {
      await postgres.thaw();
    }
    await eventually(async () => ((await api.call("GET", "/api/content", { token: user.accessToken })).status === 200 ? true : undefined), "answers again", 60_000);
  }, SLOW);
});
