import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, expectErrorShape, type ApiResponse } from "../helpers/api.ts";
import { makeDataDir } from "../helpers/platform.ts";
import { rawHttp } from "../helpers/raw-http.ts";
import { startChildPlatform, type ChildPlatform } from "../helpers/child-platform.ts";
import { mountSmallDisk, type SmallDisk } from "../helpers/full-disk.ts";

/** Words of Node, Fastify or the database that must never reach a client. */
const internals = /ENOSPC|no space|could not extend|FST_|statusCode|Internal Server Error|node:|\bat \w+ \(/i;

function expectCleanError(response: ApiResponse, status: number, code: string): void {
  expectErrorShape(response, status, code);
  expect(JSON.stringify(response.body)).not.toMatch(internals);
}

// The embedded database sits on a disk of its own that the test fills (the logs stay on the normal disk,
// where the test reads them). The PostgreSQL server's disk is not the platform's to fill; its disk_full
// (53100) takes the same path to the same answer.
const disk = await mountSmallDisk(96);

describe.skipIf("skip" in disk)(`one error shape in every state${"skip" in disk ? ` (${disk.skip})` : ""}`, () => {
  const data = disk as SmallDisk;
  let platform: ChildPlatform;
  let logDir: string;

  beforeAll(async () => {
    logDir = await makeDataDir();
    platform = await startChildPlatform({ via: "azora", dataDir: data.dir, env: { LOG_DIR: logDir, BODY_LIMIT_BYTES: "65536" } });
  }, 900_000);
  afterAll(async () => {
    await platform?.dispose().catch(() => undefined);
    await data.dispose();
  }, 120_000);

  it("answers Fastify's and Node's own refusals in the one shape", async () => {
    const api = apiClient(platform.baseUrl);
    expectCleanError(await api.get("/api/no-such-route"), 404, "not_found");
    expectCleanError(await api.call("PROPFIND", "/api/content"), 404, "not_found");
    expectCleanError(await api.call("POST", "/api/auth/login", { raw: "{not json", headers: { "content-type": "application/json" } }), 400, "invalid_json");
    expectCleanError(await api.call("POST", "/api/auth/login", { raw: "x".repeat(70_000), headers: { "content-type": "application/json" } }), 413, "payload_too_large");
    expectCleanError(await api.call("POST", "/api/auth/login", { raw: "a=b", headers: { "content-type": "application/x-www-form-urlencoded" } }), 415, "unsupported_media_type");
    expectCleanError(await rawHttp(platform.baseUrl, "GET /api/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 400, "invalid_request");
    const hugeHeader = `GET /api/content HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`;
    expectCleanError(await rawHttp(platform.baseUrl, hugeHeader), 431, "headers_too_large");
  }, 300_000);

  it("answers a write on a full disk with 507 storage_full, keeps serving, and logs the statement without the user's content", async () => {
    const api = apiClient(platform.baseUrl);
    const user = await api.newUser("full");
    data.fill();
    const secretContent = `private diary entry ${"of a user who trusts us ".repeat(1_500)}`;
    const created = await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "diary", body: secretContent } });
    expectCleanError(created, 507, "storage_full");
    expect(created.headers.get("retry-after")).toBe("60");

    // Reads still work, and the process is alive and live.
    expect((await api.get("/api/user/me", user.accessToken)).status).toBe(200);
    expect((await apiClient(platform.opsUrl).get("/health/live")).status).toBe(200);

    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const log = await readFile(join(logDir, "api.log"), "utf8");
    const failure = log
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { msg?: string; err?: { code?: string; statement?: string } })
      .find((line) => line.msg === "request failed");
    expect(failure?.err?.code).toBe("53100");
    expect(failure?.err?.statement).toContain("INSERT INTO content");
    expect(log).not.toContain("private diary entry");
    expect(log).not.toContain("of a user who trusts us");

    data.free();
    const again = await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "diary", body: "short" } });
    expect(again.status).toBe(201);
  }, 300_000);
});
