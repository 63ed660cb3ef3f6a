import { connect } from "node:net";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, expectErrorShape, metricValue, type ApiResponse } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { makeDataDir, startTestPlatform, type TestPlatform } from "./helpers/platform.ts";
import { rawHttp } from "./helpers/raw-http.ts";
import { waitUntil } from "./helpers/wait.ts";

const embedded = backends()[0]!;
const READ_LIMIT = 20;
const ALLOWED_ORIGIN = "https://app.example.com";

/** A GET as bytes, so that no client tidies the path (`..`, `//`, escapes) before it leaves. */
const rawGet = (baseUrl: string, path: string, headers: Record<string, string> = {}) =>
  rawHttp(baseUrl, `GET ${path} HTTP/1.1\r\nHost: ${new URL(baseUrl).host}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")}Connection: close\r\n\r\n`);

const rawPost = (baseUrl: string, path: string, body: string, headers: Record<string, string> = {}) =>
  rawHttp(
    baseUrl,
    `POST ${path} HTTP/1.1\r\nHost: ${new URL(baseUrl).host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")}Connection: close\r\n\r\n${body}`,
  );

const isInvalidPath = (answer: ApiResponse) => answer.status === 400 && /path is not valid/.test(answer.body?.error?.message ?? "");

/** Opens a connection, writes `bytes`, and resolves with everything received once the server closes it. */
function sendAndWaitForClose(baseUrl: string, bytes: string, onData?: (received: string, write: (more: string) => void) => void): Promise<string> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    let received = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open; received: ${JSON.stringify(received.slice(0, 300))}`));
    }, 60_000);
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      onData?.(received, (more) => socket.write(more));
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write(bytes);
  });
}

describe("request hygiene at the edge of every listener", () => {
  let platform: TestPlatform;
  let maintenanceFile: string;
  let dir: string;

  beforeAll(async () => {
    dir = await makeDataDir();
    maintenanceFile = join(dir, "maintenance.yaml");
    platform = await startTestPlatform(embedded, {
      RATE_LIMIT_READ: String(READ_LIMIT),
      RATE_LIMIT_WINDOW_SECONDS: "3600",
      MAINTENANCE_FILE: maintenanceFile,
      MAINTENANCE_POLL_MS: "200",
      HTTP_MAX_HEADER_COUNT: "30",
      HTTP_HEADERS_TIMEOUT_MS: "1000",
      HTTP_REQUEST_TIMEOUT_MS: "1500",
      CORS_ORIGINS: ALLOWED_ORIGIN,
    });
  }, 300_000);
  afterAll(async () => {
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a request without Host, or with two, and too many or too large headers, in the error shape, on every listener", async () => {
    for (const url of [platform.baseUrl, platform.opsUrl]) {
      const host = new URL(url).host;
      expectErrorShape(await rawHttp(url, "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"), 400, "invalid_request");
      expectErrorShape(await rawHttp(url, "GET /health HTTP/1.0\r\n\r\n"), 400, "invalid_request");
      expectErrorShape(await rawHttp(url, `GET /health HTTP/1.1\r\nHost: ${host}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`), 400, "invalid_request");
      const many = Array.from({ length: 40 }, (_, index) => `X-Filler-${index}: ${index}\r\n`).join("");
      expectErrorShape(await rawHttp(url, `GET /health HTTP/1.1\r\nHost: ${host}\r\n${many}Connection: close\r\n\r\n`), 431, "headers_too_large");
      expectErrorShape(await rawHttp(url, `GET /health HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${"a".repeat(20_000)}\r\nConnection: close\r\n\r\n`), 431, "headers_too_large");
      expect((await rawGet(url, "/health")).status).not.toBe(400);
    }
  });

  it("routes every spelling of a path to one rule: token checks, rate limits and maintenance see the canonical path", async () => {
    const user = await apiClient(platform.baseUrl).newUser("hygiene");
    // A route rule (token required): each variant reaches /api/user/:id and its token check, never a 404 or the service unchecked.
    const meVariants = ["/API/USER/ME", "//api//user/me/", "/api//USER/%6De", "/api/user/%4D%65//", "///Api/User/Me"];
    for (const path of meVariants) {
      expectErrorShape(await rawGet(platform.baseUrl, path), 401, "unauthorized");
      const answer = await rawGet(platform.baseUrl, path, { Authorization: `Bearer ${user.accessToken}` });
      expect(answer.status, path).toBe(200);
      expect(answer.body.id).toBe(user.id);
    }
    // Dot segments, raw or encoded, and encoded slashes have no safe reading: refused, never resolved into another route.
    for (const path of ["/api/user%2Fme", "/api/user%2fme", "/api%5Cuser/me", "/api\\user/me", "/api/user/me%00", "/api/user/%zz", "/api/x/../user/me", "/api/./user/me", "/api/user/%2e/me", "/api/user/me/x/%2E%2e", "/../../api/user/me", "/api/content/%2e%2e/user/me"]) {
      expect(isInvalidPath(await rawGet(platform.baseUrl, path)), path).toBe(true);
    }

    // A limit (read group, per IP before a token): the variants draw on the canonical path's budget.
    // The route-rule checks above without a token drew on it too.
    const jwksVariants = ["/.WELL-KNOWN/JWKS.JSON", "//.well-known//jwks.json/", "/%2ewell-known/jwks.json", "/.well-known/%6A%77ks.json", "/.well-known/jwks.json/?x=1"];
    let admitted = 0;
    for (const path of jwksVariants) {
      const answer = await rawGet(platform.baseUrl, path);
      expect(answer.status, path).toBe(200);
      expect(answer.body.keys).toBeInstanceOf(Array);
      admitted++;
    }
    while ((await rawGet(platform.baseUrl, "/.well-known/jwks.json")).status === 200) admitted++;
    expect(admitted + meVariants.length).toBe(READ_LIMIT);
    for (const path of [...jwksVariants, "/.well-known%2Fjwks.json", "/.well-known/jwks.json/.", "/x/../.well-known/jwks.json", "/.Well-Known/%6Awks.json"]) {
      const answer = await rawGet(platform.baseUrl, path);
      expect(answer.status === 429 || isInvalidPath(answer), `${path} answered ${answer.status}`).toBe(true);
    }

    // Maintenance: no spelling of a public route gets past it.
    await writeFile(maintenanceFile, "enabled: true\nmessage: Hygiene check\n");
    await waitUntil(async () => ((await rawPost(platform.baseUrl, "/api/auth/register", "{}")).status === 503 ? true : undefined), "maintenance on", 20_000);
    for (const path of ["/API/AUTH/REGISTER", "//api/auth/register/", "/api/auth/%52egister", "/api/%2e/auth/register", "/api/x/%2e%2e/auth/register", "/api/auth/register/.", "/api/auth%2Fregister"]) {
      const answer = await rawPost(platform.baseUrl, path, "{}");
      expect(answer.status === 503 || isInvalidPath(answer), `${path} answered ${answer.status}`).toBe(true);
      if (answer.status === 503) expectErrorShape(answer, 503, "maintenance");
    }
    await rm(maintenanceFile);
    await waitUntil(async () => ((await rawPost(platform.baseUrl, "/api/auth/register", "{}")).status === 400 ? true : undefined), "maintenance off", 20_000);
  });

  it("answers Expect: 100-continue at the edge: 100 then the service's answer, or the final refusal without 100", async () => {
    const host = new URL(platform.baseUrl).host;
    const body = JSON.stringify({ email: "not-an-email" });
    let sent = false;
    const received = await sendAndWaitForClose(
      platform.baseUrl,
      `POST /api/auth/register HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      (text, write) => {
        if (!sent && text.startsWith("HTTP/1.1 100 Continue\r\n\r\n")) {
          sent = true;
          write(body);
        }
      },
    );
    expect(received.startsWith("HTTP/1.1 100 Continue\r\n\r\n")).toBe(true);
    const final = received.slice("HTTP/1.1 100 Continue\r\n\r\n".length);
    // The auth service itself validated the body: the request went through, no 502.
    expect(final).toMatch(/^HTTP\/1\.1 400 /);
    expect(final).toContain('"code":"invalid_request"');
    expect(final).not.toContain("bad_gateway");

    // Refused at the edge: the final answer comes at once, without 100 Continue, and the body is never awaited.
    const refused = await sendAndWaitForClose(
      platform.baseUrl,
      `POST /api/auth%2Fregister HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n`,
    );
    expect(refused).toMatch(/^HTTP\/1\.1 400 /);
    const other = await rawHttp(platform.baseUrl, `GET /health HTTP/1.1\r\nHost: ${host}\r\nExpect: something-else\r\nConnection: close\r\n\r\n`);
    expectErrorShape(other, 417, "expectation_failed");
    const metrics = await (await fetch(`${platform.opsUrl}/metrics`)).text();
    expect(metricValue(metrics, "azora_upstream_errors_total")).toBe(0);
  });

  it("closes a connection whose headers or body stop arriving, on the public port and the ops port, with a 408", async () => {
    for (const url of [platform.baseUrl, platform.opsUrl]) {
      const host = new URL(url).host;
      const halfHeaders = await sendAndWaitForClose(url, `GET /health HTTP/1.1\r\nHost: ${host}\r\nX-Slow: `);
      expect(halfHeaders).toMatch(/^HTTP\/1\.1 408 /);
      const path = url === platform.opsUrl ? "/ops/commands" : "/api/auth/register";
      const auth = url === platform.opsUrl ? `Authorization: Bearer ${platform.running.opsToken}\r\n` : "";
      const halfBody = await sendAndWaitForClose(url, `POST ${path} HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":`);
      expect(halfBody).toMatch(/^HTTP\/1\.1 408 /);
      expect(halfBody).toContain('"code":"request_timeout"');
    }
  });

  it("checks the ops token before reading a command's body", async () => {
    const host = new URL(platform.opsUrl).host;
    // The body is announced but never sent: the refusal must come from the headers alone.
    const refused = await sendAndWaitForClose(platform.opsUrl, `POST /ops/commands HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n`);
    expect(refused).toMatch(/^HTTP\/1\.1 401 /);
    expect(refused).toContain('"code":"unauthorized"');
  });

  it("enforces CORS_ORIGINS: preflights and calls from allowed origins only, with Vary: Origin", async () => {
    const preflight = await apiClient(platform.baseUrl).call("OPTIONS", "/api/user/me", {
      headers: { origin: ALLOWED_ORIGIN, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("GET");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("Authorization");
    expect(preflight.headers.get("vary")).toContain("Origin");

    const foreign = await apiClient(platform.baseUrl).call("OPTIONS", "/api/user/me", { headers: { origin: "https://evil.example", "access-control-request-method": "GET" } });
    expectErrorShape(foreign, 403, "forbidden");
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();

    const allowed = await apiClient(platform.baseUrl).call("GET", "/health", { headers: { origin: ALLOWED_ORIGIN } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers.get("access-control-expose-headers")).toContain("RateLimit-Remaining");
    expect(allowed.headers.get("vary")).toContain("Origin");

    expectErrorShape(await apiClient(platform.baseUrl).call("POST", "/api/auth/register", { json: {}, headers: { origin: "https://evil.example" } }), 403, "forbidden");
    // The API's own origin, and callers that send no Origin (servers, the CLI), are not cross-origin.
    expect((await apiClient(platform.baseUrl).call("GET", "/health", { headers: { origin: platform.baseUrl } })).status).toBe(200);
    const plain = await apiClient(platform.baseUrl).call("GET", "/health");
    expect(plain.status).toBe(200);
    expect(plain.headers.get("access-control-allow-origin")).toBeNull();
    expect(plain.headers.get("vary")).toContain("Origin");
  });

  it("counts and logs an edge refusal under the route its path asks for, with that path, never under the internal route", async () => {
    const id = "0a1b2c3d-0000-4000-8000-00000000e7e7";
    const before = await (await fetch(`${platform.opsUrl}/metrics`)).text();
    const series = (exposition: string, route: string, status: string) => metricValue(exposition, "http_requests_total", { service: "gateway", method: "GET", route, status });
    // A path with a canonical reading, refused for its headers or its origin: the route it would have reached.
    expectErrorShape(await rawHttp(platform.baseUrl, `GET /API/User/${id.toUpperCase()}/ HTTP/1.1\r\nConnection: close\r\n\r\n`), 400, "invalid_request");
    expectErrorShape(await rawGet(platform.baseUrl, `/api/user/${id}`, { Origin: "https://evil.example" }), 403, "forbidden");
    // A path without one (a dot segment) or that reaches no route: "unmatched", as a 404 is.
    expect(isInvalidPath(await rawGet(platform.baseUrl, `/api/user/%2e%2e/${id}`))).toBe(true);
    expectErrorShape(await rawGet(platform.baseUrl, "/nowhere", { Origin: "https://evil.example" }), 403, "forbidden");

    const after = await (await fetch(`${platform.opsUrl}/metrics`)).text();
    expect(series(after, "/api/user/:id", "400") - series(before, "/api/user/:id", "400")).toBe(1);
    expect(series(after, "/api/user/:id", "403") - series(before, "/api/user/:id", "403")).toBe(1);
    expect(series(after, "unmatched", "400") - series(before, "unmatched", "400")).toBe(1);
    expect(series(after, "unmatched", "403") - series(before, "unmatched", "403")).toBe(1);
    expect(after).not.toContain("/-/");

    // api.log is buffered and flushed at least every second.
    const lines = await waitUntil(async () => {
      const text = await readFile(join(platform.dataDir, "logs", "api.log"), "utf8").catch(() => "");
      const found = text.split("\n").filter((line) => line.includes(id) || line.includes("/nowhere")).map((line) => JSON.parse(line) as Record<string, unknown>);
      return found.length >= 4 ? found : undefined;
    }, "four access lines in api.log", 20_000);
    expect(lines.map((line) => [line.route, line.path, line.status])).toEqual([
      ["/api/user/:id", `/api/user/${id}`, 400],
      ["/api/user/:id", `/api/user/${id}`, 403],
      ["unmatched", `/api/user/%2e%2e/${id}`, 400],
      ["unmatched", "/nowhere", 403],
    ]);
  });

  it("answers public /health and /status from one result a second, however many ask", async () => {
    const healthCalls = async () => {
      const metrics = await (await fetch(`${platform.opsUrl}/metrics`)).text();
      return metricValue(metrics, "http_requests_total", { service: "auth", route: "/health" }) + metricValue(metrics, "http_requests_total", { service: "users", route: "/health" });
    };
    const before = await healthCalls();
    const started = Date.now();
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, index) => fetch(`${platform.baseUrl}${index % 2 ? "/health" : "/status"}`)));
      expect(answers.every((answer) => answer.status === 200)).toBe(true);
    }
    const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
    // 100 public requests; at most one round of upstream health calls (one per service) per second.
    expect(await healthCalls() - before).toBeLessThanOrEqual(2 * seconds);
  });
});
