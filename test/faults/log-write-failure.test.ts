import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, expectErrorShape, metricValue } from "../helpers/api.ts";
import { eventually, isAlive, startChildPlatform, type ChildPlatform } from "../helpers/child-platform.ts";
import { mountSmallDisk, type SmallDisk } from "../helpers/full-disk.ts";

// The log files sit on a disk of their own that the test fills; the database stays on the normal disk, so
// what is under test is the logging alone. Embedded default only: logging does not depend on the backend.
const disk = await mountSmallDisk(8);

describe.skipIf("skip" in disk)(`log writes on a full disk${"skip" in disk ? ` (${disk.skip})` : ""}`, () => {
  const logs = disk as SmallDisk;
  let platform: ChildPlatform;

  beforeAll(async () => {
    platform = await startChildPlatform({ via: "azora", env: { LOG_DIR: logs.dir } });
  }, 900_000);
  afterAll(async () => {
    await platform?.dispose();
    await logs.dispose();
  }, 120_000);

  it("keeps serving, counts the failed writes, reports the logs as degraded, and recovers when there is room again", async () => {
    const api = apiClient(platform.baseUrl);
    const ops = apiClient(platform.opsUrl);
    logs.fill();

    // More than the 64 KiB the access log gathers before it writes (500 lines of ~250 bytes), and auth events written at once.
    for (let index = 0; index < 500; index++) expectErrorShape(await api.get(`/api/no-such-route-${index}`), 404, "not_found");
    const user = await api.newUser("full-disk");
    expect((await api.get("/api/user/me", user.accessToken)).status).toBe(200);
    expect((await ops.get("/health/live")).status).toBe(200);
    expect(isAlive(platform.pid)).toBe(true);

    const health = await ops.get("/health");
    expect(health.status).toBe(200);
    expect(health.body.status).toBe("degraded");
    expect(health.body.checks.logs).toMatchObject({ status: "degraded" });
    expect(health.body.checks.logs.error).toContain("ENOSPC");
    expect((await ops.get("/health/ready")).status).toBe(200);
    const metrics = (await ops.get("/metrics")).body as string;
    expect(metricValue(metrics, "azora_log_write_errors_total", { log: "api" })).toBeGreaterThan(0);

    logs.free();
    const recovered = await eventually(async () => {
      await api.get("/api/after-the-disk-has-room");
      return (await ops.get("/health")).body.checks.logs.status === "ok";
    });
    expect(recovered).toBe(true);

    // A stop flushes what is buffered; with a full disk that must not spin forever either.
    logs.fill();
    await api.get("/api/one-more-line-that-cannot-be-written");
    process.kill(platform.pid, "SIGTERM");
    expect(await platform.run.exited).toEqual({ code: 0, signal: null });
    expect(platform.run.stderr()).not.toMatch(/ENOSPC|Unhandled|uncaught/i);
  }, 900_000);
});
