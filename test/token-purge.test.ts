import { rm } from "node:fs/promises";
import { afterAll, describe, expect, it } from "vitest";
import { platformCommands } from "../src/ops/commands.ts";
import { startPlatform, type RunningPlatform } from "../src/runtime.ts";
import { apiClient, metricValue } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { makeDataDir, prepareDataDir, testConfig } from "./helpers/platform.ts";

const DAY = 24 * 3600 * 1000;

/** Expired and long-revoked refresh tokens leave the database on a schedule, counted in a metric. */
describe.each(backends())("refresh token purge on $name", (backend) => {
  let running: RunningPlatform | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    await running?.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it("purges revoked tokens after a week and expired ones after their expiry, and counts them", { timeout: 600_000 }, async () => {
    const dataDir = await makeDataDir();
    const provisioned = await backend.provision();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }), provisioned.dispose);
    let offset = 0;
    const clock = { now: () => Date.now() + offset };
    const config = testConfig({ DATA_DIR: dataDir, TOKEN_PURGE_INTERVAL_MS: "200", ...provisioned.env });
    await prepareDataDir(config);
    running = await startPlatform(config, { roles: ["gateway", "auth", "users"], commands: platformCommands, clock });
    const api = apiClient(running.urls.gateway ?? "");
    const db = running.context.db;
    const tokensOf = async (userId: string) =>
      (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM refresh_tokens WHERE user_id = $1", [userId]))[0]?.n;
    const purged = async () => metricValue(await (await fetch(new URL("/metrics", running?.urls.ops))).text(), "azora_refresh_tokens_purged_total");
    const until = async (condition: () => Promise<boolean>) => {
      for (let waited = 0; !(await condition()); waited += 100) {
        if (waited > 60_000) throw new Error("the purge did not run within 60 s");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };

    const user = await api.newUser("purge");
    const second = await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } });
    expect((await api.call("POST", "/api/auth/logout", { json: { refreshToken: second.body.refreshToken } })).status).toBe(204);
    expect(await tokensOf(user.id)).toBe(2);
    const before = await purged();

    // A revoked token stays a week (reuse of it is still recognised), the live one until it expires.
    offset = 6 * DAY;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await tokensOf(user.id)).toBe(2);
    offset = 8 * DAY;
    await until(async () => (await tokensOf(user.id)) === 1);
    expect((await api.call("POST", "/api/auth/refresh", { json: { refreshToken: user.refreshToken } })).status).toBe(200);

    offset = 8 * DAY + 31 * DAY;
    await until(async () => (await tokensOf(user.id)) === 0);
    // The revoked token, the rotated one and the one the refresh issued: every row the purge removed is counted.
    await until(async () => (await purged()) - before >= 3);
    expect((await purged()) - before).toBe(3);
  });
});
