import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { runCli } from "../helpers/cli.ts";
import { eventually } from "../helpers/free-port.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";
import { userCacheKey } from "../../src/services/users/users.service.ts";

// An operator command never reports a change that running services will not see, whatever cache the
// command itself can reach; and the ops port reads the Bearer scheme in any letter case, as the API does.
const SLOW = 300_000;

describe.each(backends())("operator commands on the $name backend", (backend) => {
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  /** The command's environment: the same database, but no REDIS_URL (an operator shell rarely has it). */
  let cliEnv: Record<string, string>;

  beforeAll(async () => {
    platform = await startTestPlatform(backend);
    api = apiClient(platform.baseUrl);
    cliEnv = { DATA_DIR: platform.dataDir, ...(platform.config.database.url ? { DATABASE_URL: platform.config.database.url } : {}) };
  }, SLOW);
  afterAll(async () => platform?.stop(), SLOW);

  it("azora user demote without REDIS_URL reaches the services' cache: the admin loses access", async () => {
    const admin = await api.newUser("operator-admin");
    const other = await api.newUser("operator-other");
    const readOther = async () => (await api.get(`/api/user/${other.id}`, admin.accessToken)).status;

    expect((await runCli(["user", "promote", admin.email], cliEnv)).code).toBe(0);
    await eventually(async () => ((await readOther()) === 200 ? true : undefined), "the promotion to count", 30_000);
    // The admin's profile (and role) is now cached by the services.
    expect((await api.cachedGet(`/api/user/${admin.id}`, admin.accessToken)).headers.get("x-cache")).toBe("HIT");

    const demoted = await runCli(["user", "demote", admin.email], cliEnv);
    expect(demoted.code).toBe(0);
    expect(demoted.stdout).toContain("is now a regular user");
    // The demotion revokes the admin's live tokens; a fresh one (from the session) finds the cached role gone too.
    await eventually(async () => ((await readOther()) === 401 ? true : undefined), "the demotion to reach the running services", 30_000);
    const refreshed = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: admin.refreshToken } });
    expect(refreshed.status).toBe(200);
    // The old tokens may be refused (the database decides) a moment before each service has replayed the
    // demotion into its cache (once a second): the new token loses admin rights within the same seconds.
    await eventually(async () => ((await api.get(`/api/user/${other.id}`, refreshed.body.accessToken)).status === 403 ? true : undefined), "the cached role to drop", 10_000);
    expect((await api.get(`/api/user/${admin.id}`, refreshed.body.accessToken)).body.role).toBe("user");
  }, SLOW);

  it("azora account disable without REDIS_URL reaches the services' cache: the disabled profile is no longer served", async () => {
    const admin = await api.newUser("disable-admin");
    const person = await api.newUser("disable-person");
    await platform.running.context.db.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    await platform.running.context.coherentCache.invalidate(userCacheKey(admin.id));
    const readPerson = () => api.call("GET", `/api/user/${person.id}`, { token: admin.accessToken });
    await eventually(async () => ((await readPerson()).headers.get("x-cache") === "HIT" ? true : undefined), "the person's profile cached", 30_000);

    const disabled = await runCli(["account", "disable", person.email, "--reason", "review"], cliEnv);
    expect(disabled.code).toBe(0);
    // A disabled account has no profile to show: the services drop the cached one within about a second.
    await eventually(async () => ((await readPerson()).status === 404 ? true : undefined), "the disabled profile to leave the cache", 30_000);
  }, SLOW);

  it("accepts the ops token with the Bearer scheme in any letter case, and refuses a wrong token", async () => {
    const call = (authorization: string) =>
      fetch(new URL("/ops/commands", platform.opsUrl), {
        method: "POST",
        headers: { authorization, "content-type": "application/json" },
        body: JSON.stringify({ name: "user set-role", args: { email: "nobody@example.com", role: "admin" } }),
        signal: AbortSignal.timeout(30_000),
      });
    for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) {
      const response = await call(`${scheme} ${platform.running.opsToken}`);
      expect(response.status, scheme).toBe(200);
      expect(await response.text()).toContain('"exitCode":1');
    }
    expect((await call(`Bearer ${"x".repeat(platform.running.opsToken.length)}`)).status).toBe(401);
    expect((await call(platform.running.opsToken)).status).toBe(401);
  }, SLOW);
});
