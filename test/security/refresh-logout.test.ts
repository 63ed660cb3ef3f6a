import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, expectErrorShape } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import { manualClock, startClockedPlatform } from "../helpers/security-platform.ts";

const SLOW = 300_000;

describe.each(backends())("refresh tokens ended by logout on the $name backend", (backend) => {
  const clock = manualClock();
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  const reuseEventsFor = async (userId: string) => {
    platform.running.context.logs.flush();
    const text = await readFile(join(platform.config.paths.logs, "auth.log"), "utf8").catch(() => "");
    return text.split("\n").filter((line) => line.includes('"TOKEN_REUSED"') && line.includes(userId)).length;
  };

  beforeAll(async () => {
    platform = await startClockedPlatform(backend, clock);
    api = apiClient(platform.baseUrl);
  }, SLOW);
  afterAll(async () => platform?.stop(), SLOW);

  it("a token ended by logout answers 401 invalid_token and is not reported as reuse", async () => {
    const jane = await api.newUser("logout");
    expect((await api.call("POST", "/api/auth/logout", { json: { refreshToken: jane.refreshToken } })).status).toBe(204);
    const after = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: jane.refreshToken } });
    expectErrorShape(after, 401, "invalid_token");
    expect(await reuseEventsFor(jane.id)).toBe(0);
  }, SLOW);

  it("a rotated token presented again is still reuse: 401 token_reused, TOKEN_REUSED logged", async () => {
    const sam = await api.newUser("reuse");
    const rotated = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: sam.refreshToken } });
    expect(rotated.status).toBe(200);
    clock.advance(11_000); // past the refresh grace interval (10 s)
    const again = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: sam.refreshToken } });
    expectErrorShape(again, 401, "token_reused");
    expect(await reuseEventsFor(sam.id)).toBe(1);
    // The family is revoked: its newest token is dead too (token_reused), and the theft is reported once.
    expectErrorShape(await api.call("POST", "/api/auth/refresh", { json: { refreshToken: rotated.body.refreshToken } }), 401, "token_reused");
    expect(await reuseEventsFor(sam.id)).toBe(1);
  }, SLOW);
});
