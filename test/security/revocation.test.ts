import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, expectErrorShape } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { eventually } from "../helpers/free-port.ts";
import { azora } from "../helpers/in-process-cli.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import { manualClock, startClockedPlatform } from "../helpers/security-platform.ts";

const SLOW = 300_000;
// The promise is 5 s (1 s in each process plus 4 s in the shared cache); the bound here only keeps a
// broken build from hanging, it measures nothing.
const REVOCATION_BOUND_MS = 15_000;

describe.each(backends())("revocation that bites on the $name backend", (backend) => {
  const clock = manualClock();
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  let services: ReturnType<typeof apiClient>;
  /** The operator's shell: the same database, but no REDIS_URL (the shared cache entry expires by itself). */
  let cliEnv: Record<string, string>;

  beforeAll(async () => {
    platform = await startClockedPlatform(backend, clock);
    api = apiClient(platform.baseUrl);
    // The users service's own listener: a caller that reaches it directly gains nothing.
    services = apiClient(platform.running.urls.users ?? platform.baseUrl);
    cliEnv = { DATA_DIR: platform.dataDir, ...(platform.config.database.url ? { DATABASE_URL: platform.config.database.url } : {}) };
  }, SLOW);
  afterAll(async () => platform?.stop(), SLOW);

  const refusedEverywhere = async (token: string) => {
    const answers = await Promise.all([
      api.get("/api/user/me", token),
      api.call("PATCH", "/api/user/me", { token, json: { name: "x" } }),
      api.call("POST", "/api/content", { token, json: { title: "t" } }),
      api.get("/api/auth/me", token),
      services.get("/api/user/me", token),
      services.call("PATCH", "/api/user/me", { token, json: { name: "x" } }),
    ]);
    return answers.every((answer) => answer.status === 401) ? answers : undefined;
  };

  it("azora account disable: the live token is refused at the gateway and the service, logins and refreshes too", async () => {
    const jane = await api.newUser("revoked");
    // Her profile is now cached by the users service, which used to keep serving it.
    expect((await api.get("/api/user/me", jane.accessToken)).status).toBe(200);
    expect((await api.get("/api/user/me", jane.accessToken)).headers.get("x-cache")).toBe("HIT");

    const dry = await azora(["account", "disable", jane.email, "--dry-run", "--json"], cliEnv);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, changed: true });
    expect((await api.get("/api/user/me", jane.accessToken)).status).toBe(200);

    const disabled = await azora(["account", "disable", jane.email, "--reason", "phished", "--json"], cliEnv);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ action: "disable", changed: true, sessionsEnded: 1 });

    const answers = await eventually(() => refusedEverywhere(jane.accessToken), "the token to be refused everywhere", REVOCATION_BOUND_MS);
    for (const answer of answers) expectErrorShape(answer, 401, "invalid_token");
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(401);
    expect((await api.call("POST", "/api/auth/refresh", { json: { refreshToken: jane.refreshToken } })).status).toBe(401);

    // Enabled again: a new login works at once, its token as soon as the cached standing ("disabled") is
    // gone (within 5 s, as the refusal was); the old token stays dead, being dated before the cut-off.
    expect((await azora(["account", "enable", jane.email], cliEnv)).code).toBe(0);
    const login = await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } });
    expect(login.status).toBe(200);
    await eventually(async () => ((await api.get("/api/user/me", login.body.accessToken)).status === 200 ? true : undefined), "the new token to count", REVOCATION_BOUND_MS);
    expect((await api.get("/api/user/me", jane.accessToken)).status).toBe(401);

    const audit = JSON.parse((await azora(["audit", "tail", "--json"], cliEnv)).stdout) as { action: string; target: string; details: Record<string, unknown> }[];
    expect(audit.map((row) => row.action)).toEqual(["account.disable", "account.enable"]);
    expect(audit[0]).toMatchObject({ target: `user:${jane.id}`, details: { reason: "phished", changed: true } });
  }, SLOW);

  it("a demoted admin's live token stops working; a fresh one works", async () => {
    const admin = await api.newUser("demoted");
    expect((await azora(["user", "promote", admin.email], cliEnv)).code).toBe(0);
    const login = await api.call("POST", "/api/auth/login", { json: { email: admin.email, password: admin.password } });
    expect((await azora(["user", "demote", admin.email], cliEnv)).code).toBe(0);
    await eventually(async () => ((await api.get("/api/user/me", login.body.accessToken)).status === 401 ? true : undefined), "the demoted token to be refused", REVOCATION_BOUND_MS);
    const refreshed = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: login.body.refreshToken } });
    expect(refreshed.status).toBe(200);
    expect((await api.get("/api/user/me", refreshed.body.accessToken)).body.role).toBe("user");
  }, SLOW);

  it("an erased user's token is 401 everywhere, reads and writes alike (never a 500)", async () => {
    const gone = await api.newUser("erased");
    expect((await api.call("POST", "/api/content", { token: gone.accessToken, json: { title: "mine" } })).status).toBe(201);
    expect((await azora(["gdpr", "delete", gone.email, "--yes"], cliEnv)).code).toBe(0);
    const answers = await eventually(() => refusedEverywhere(gone.accessToken), "the erased user's token to be refused", REVOCATION_BOUND_MS);
    for (const answer of answers) expectErrorShape(answer, 401, "invalid_token");
  }, SLOW);

  it("the process-local cache expires on the injected clock", async () => {
    const sam = await api.newUser("clocked");
    expect((await api.get("/api/user/me", sam.accessToken)).status).toBe(200);
    // Revoked straight in the database, as a process without the shared cache would: the cached standing
    // (local 1 s, shared 4 s) is what stands between the write and the refusal.
    await platform.running.context.db.query("UPDATE users SET tokens_valid_after = now() + interval '1 second' WHERE id = $1", [sam.id]);
    await platform.running.context.cache.del(`token-standing:${sam.id}`);
    clock.advance(1_500);
    expect((await api.get("/api/user/me", sam.accessToken)).status).toBe(401);
  }, SLOW);
});
