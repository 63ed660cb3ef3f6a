import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { spawnCli } from "../helpers/cli.ts";
import { eventually, freePort } from "../helpers/free-port.ts";
import { startOwnRedis, type OwnRedis } from "../helpers/own-redis.ts";
import { makeDataDir, startTestPlatform, type TestPlatform } from "../helpers/platform.ts";
import { toolAvailability } from "../helpers/tools.ts";
import { azora } from "../helpers/in-process-cli.ts";
import { readFile } from "node:fs/promises";
import { userCacheKey } from "../../src/services/users/users.service.ts";
import { join } from "node:path";

// Redis is a cache: stopped, frozen or unreachable, it costs speed, never an answer or a correct one.
const redisServer = toolAvailability("redis-server", "redis-server");
const SLOW = 300_000;
/** Bounds a start on a loaded machine (an embedded database start can take minutes there); a hang is far longer. */
const START_BOUND = 400_000;

/** A request that hangs is the failure this suite looks for: give up long after any timeout of ours. */
const noHang = () => AbortSignal.timeout(30_000);

describe.runIf(redisServer.run).each(backends())("Redis failures on the $name backend", (backend) => {
  let redis: OwnRedis;
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  let user: Awaited<ReturnType<ReturnType<typeof apiClient>["newUser"]>>;

  const read = () => api.call("GET", `/api/user/${user.id}`, { token: user.accessToken });
  const opsJson = async (path: string) => {
    const response = await fetch(new URL(path, platform.opsUrl), { signal: noHang() });
    return { status: response.status, body: (await response.json()) as any };
  };

  beforeAll(async () => {
    redis = await startOwnRedis();
    platform = await startTestPlatform(backend, { REDIS_URL: redis.url });
    api = apiClient(platform.baseUrl);
    user = await api.newUser("redis-fault");
  }, SLOW);
  afterAll(async () => {
    await platform?.stop();
    await redis?.dispose();
  }, SLOW);

  it("serves reads from the database while Redis is stopped, says the cache is degraded, and answers a write as committed", async () => {
    expect((await read()).headers.get("x-cache")).toBe("MISS");
    expect((await read()).headers.get("x-cache")).toBe("HIT");
    await redis.stop();

    const bypassed = await read();
    expect(bypassed.status).toBe(200);
    expect(bypassed.headers.get("x-cache")).toBe("BYPASS");
    expect(bypassed.body.id).toBe(user.id);

    const health = await opsJson("/health");
    expect(health.status).toBe(200);
    expect(health.body.status).toBe("degraded");
    expect(health.body.checks.cache.status).toBe("degraded");
    expect(health.body.checks.database.status).toBe("ok");
    expect((await opsJson("/health/ready")).status).toBe(200);
    // The operator's summary says degraded, not down: everything still answers.
    const check = await azora(["health-check", "--url", platform.baseUrl, "--ops-url", platform.opsUrl], { DATA_DIR: platform.dataDir });
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^cache\s+DEGRADED/m);
    expect(check.stdout).toContain("Some components are DEGRADED (still serving); none is down.");
    expect(check.stdout).not.toContain("DOWN");

    const patched = await api.call("PATCH", `/api/user/${user.id}`, { token: user.accessToken, json: { name: "Written During Outage" } });
    expect(patched.status).toBe(200);
    expect(patched.body.name).toBe("Written During Outage");
    const after = await read();
    expect(after.headers.get("x-cache")).toBe("BYPASS");
    expect(after.body.name).toBe("Written During Outage");

    // The rate limiters (gateway limits, the password guard) keep their budgets in Redis too: a sign-in
    // falls back to the per-process budget instead of failing.
    const login = await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } });
    expect(login.status).toBe(200);
  }, SLOW);

  it("never serves the entry Redis kept from before the write once it is back, and uses the cache again by itself", async () => {
    // Redis comes back with its append-only file: the profile cached before the write is in it again.
    await redis.start();
    const names: string[] = [];
    await eventually(async () => {
      const response = await read();
      names.push(response.body.name);
      return response.headers.get("x-cache") === "HIT" ? true : undefined;
    }, "a cache hit after Redis came back", 60_000);
    expect(new Set(names)).toEqual(new Set(["Written During Outage"]));
    await eventually(async () => ((await opsJson("/health")).body.status === "ok" ? true : undefined), "health ok again", 60_000);
  }, SLOW);

  it("answers without waiting for a frozen Redis (SIGSTOP) and recovers when it resumes", async () => {
    redis.freeze();
    try {
      const response = await fetch(new URL(`/api/user/${user.id}`, platform.baseUrl), { headers: { authorization: `Bearer ${user.accessToken}` }, signal: noHang() });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-cache")).toBe("BYPASS");
      const login = await fetch(new URL("/api/auth/login", platform.baseUrl), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: user.email, password: user.password }),
        signal: noHang(),
      });
      expect(login.status).toBe(200);
      const health = await opsJson("/health");
      expect(health.body.checks.cache.status).toBe("degraded");
      expect((await opsJson("/health/ready")).status).toBe(200);
    } finally {
      redis.thaw();
    }
    await eventually(async () => ((await read()).headers.get("x-cache") === "HIT" ? true : undefined), "a cache hit after Redis resumed", 60_000);
  }, SLOW);

  it("erases an account while Redis is stopped: the erasure is answered as committed, finishes its work, and the erased profile is never served again", async () => {
    const person = await api.newUser("erased-in-outage");
    const admin = await api.newUser("erasure-admin");
    await platform.running.context.db.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    await platform.running.context.coherentCache.invalidate(userCacheKey(admin.id));
    const readPerson = () => api.call("GET", `/api/user/${person.id}`, { token: admin.accessToken });
    // The person's profile is in Redis (and in its append-only file) when Redis stops.
    await eventually(async () => ((await readPerson()).headers.get("x-cache") === "HIT" ? true : undefined), "the person's profile cached", 30_000);
    await redis.stop();
    try {
      // The rows are committed before the cache is told: a cache that cannot be reached must not fail the
      // erasure, whose remaining steps (logs and mail pseudonymised, the security event) must still run.
      const erased = await api.call("DELETE", "/api/user/me", { token: person.accessToken, json: { password: person.password } });
      expect(erased.status).toBe(204);
      const login = await api.call("POST", "/api/auth/login", { json: { email: person.email, password: person.password } });
      expect(login.status).toBe(401);
      await eventually(async () => ((await readFile(join(platform.config.paths.logs, "security.log"), "utf8")).includes('"event":"GDPR_ERASURE"') ? true : undefined), "the erasure's security event", 30_000);
    } finally {
      await redis.start();
    }
    // Redis is back with the profile cached before the erasure; once the cache is used again, the
    // erasure's invalidation has been replayed: the profile is gone, not served as a HIT.
    await eventually(async () => ((await api.call("GET", `/api/user/${admin.id}`, { token: admin.accessToken })).headers.get("x-cache") === "HIT" ? true : undefined), "the cache in use again", 60_000);
    const after = await readPerson();
    expect(after.status).toBe(404);
    // The invalidation that made this so names the person by the ledger's subject hash, never by id.
    const rows = await platform.running.context.db.query<{ cache_key: string }>("SELECT cache_key FROM cache_invalidations");
    expect(rows.filter((row) => row.cache_key.includes(person.id))).toEqual([]);
    expect(rows.map((row) => row.cache_key)).toContain(userCacheKey(person.id));
  }, SLOW);
});

describe.runIf(redisServer.run)("Redis unreachable at start", () => {
  let redis: OwnRedis | undefined;
  afterAll(async () => redis?.dispose());

  it("a command says so within seconds instead of hanging, and azora up serves from the database until Redis answers", async () => {
    const port = await freePort();
    const env = { HOST: "127.0.0.1", PORT: "0", OPS_PORT: "0", REDIS_URL: `redis://127.0.0.1:${port}` };

    // The message comes before the database is even opened; the command then does its work without the cache.
    const command = spawnCli(["migrate"], { ...env, DATA_DIR: await makeDataDir() });
    const hung = setTimeout(() => command.child.kill("SIGKILL"), START_BOUND);
    await command.waitFor(/Redis \(REDIS_URL\) is unreachable/, 120_000);
    const { code } = await command.exited;
    clearTimeout(hung);
    expect(code).toBe(0);

    const up = spawnCli(["up"], { ...env, DATA_DIR: await makeDataDir() });
    try {
      const [, url] = await up.waitFor(/API:\s+(http:\/\/\S+)/, START_BOUND);
      expect(up.stderr()).toContain("Redis (REDIS_URL) is unreachable");
      const api = apiClient(url ?? "");
      const user = await api.newUser("redis-late");
      const read = () => api.call("GET", `/api/user/${user.id}`, { token: user.accessToken });
      expect((await read()).headers.get("x-cache")).toBe("BYPASS");

      redis = await startOwnRedis({ port });
      await eventually(async () => ((await read()).headers.get("x-cache") === "HIT" ? true : undefined), "the cache in use once Redis answers", 60_000);
    } finally {
      up.child.kill("SIGTERM");
      await up.exited;
    }
  }, 3 * START_BOUND);
});
