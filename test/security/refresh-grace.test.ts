import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, expectErrorShape } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import { logEvents } from "../helpers/security.ts";
import { manualClock, startClockedPlatform } from "../helpers/security-platform.ts";

const SLOW = 300_000;

/** Point 3 of the auth issue: a client that lost a rotation's answer gets the same successor for a short while. */
describe.each(backends())("refresh-token grace on the $name backend", (backend) => {
  const clock = manualClock();
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  const refresh = (refreshToken: string) => api.call("POST", "/api/auth/refresh", { json: { refreshToken } });
  const reuseEventsFor = async (userId: string) => {
    platform.running.context.logs.flush();
    return (await logEvents(platform, "auth.log", "TOKEN_REUSED")).filter((line) => line.userId === userId).length;
  };

  beforeAll(async () => {
    platform = await startClockedPlatform(backend, clock, { REFRESH_REUSE_GRACE_SECONDS: "10" });
    api = apiClient(platform.baseUrl);
  }, SLOW);
  afterAll(async () => platform?.stop(), SLOW);

  it("reuse within the grace interval answers 200 with the same, working successor", async () => {
    const jane = await api.newUser("grace");
    const first = await refresh(jane.refreshToken);
    expect(first.status).toBe(200);
    clock.advance(9_000);
    const again = await refresh(jane.refreshToken);
    expect(again.status).toBe(200);
    expect(again.body.refreshToken).toBe(first.body.refreshToken);
    expect((await api.get("/api/auth/me", again.body.accessToken)).status).toBe(200);
    expect(await reuseEventsFor(jane.id)).toBe(0);
    // The successor rotates as usual.
    expect((await refresh(again.body.refreshToken)).status).toBe(200);
  }, SLOW);

  it("two refreshes with one token at once both get the same successor", async () => {
    const sam = await api.newUser("grace-race");
    const [a, b] = await Promise.all([refresh(sam.refreshToken), refresh(sam.refreshToken)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.refreshToken).toBe(b.body.refreshToken);
    expect(await reuseEventsFor(sam.id)).toBe(0);
  }, SLOW);

  it("after the grace interval reuse revokes the family: 401 token_reused, the newest token is dead, TOKEN_REUSED logged once", async () => {
    const kim = await api.newUser("grace-late");
    const first = await refresh(kim.refreshToken);
    const second = await refresh(first.body.refreshToken);
    expect(second.status).toBe(200);
    clock.advance(11_000);
    expectErrorShape(await refresh(kim.refreshToken), 401, "token_reused");
    expectErrorShape(await refresh(second.body.refreshToken), 401, "token_reused");
    // Every further try with a token of the revoked family answers the same, without a new report.
    expectErrorShape(await refresh(first.body.refreshToken), 401, "token_reused");
    expectErrorShape(await refresh(kim.refreshToken), 401, "token_reused");
    expect(await reuseEventsFor(kim.id)).toBe(1);
  }, SLOW);

  it("within the grace interval, a parent whose successor was already used is reuse", async () => {
    const lee = await api.newUser("grace-used");
    const first = await refresh(lee.refreshToken);
    expect((await refresh(first.body.refreshToken)).status).toBe(200);
    expectErrorShape(await refresh(lee.refreshToken), 401, "token_reused");
    expect(await reuseEventsFor(lee.id)).toBe(1);
  }, SLOW);
});
