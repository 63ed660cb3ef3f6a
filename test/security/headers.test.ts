import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";
import { rawHttp } from "../helpers/raw-http.ts";

describe.each(backends())("security headers ($name)", (backend) => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform(backend, { TRUSTED_PROXIES: "127.0.0.1" });
  });
  afterAll(async () => platform?.stop());

  it("every answer, errors included, says nosniff and no-referrer", async () => {
    const api = apiClient(platform.baseUrl);
    for (const answer of [await api.get("/health"), await api.get("/no/such/route"), await api.call("POST", "/api/auth/login", { raw: "{", headers: { "content-type": "application/json" } })]) {
      expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
      expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
    }
  });

  it("token and account answers are not stored by caches", async () => {
    const api = apiClient(platform.baseUrl);
    const user = await api.newUser("headers");
    const login = await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } });
    expect(login.headers.get("cache-control")).toBe("no-store");
    const refreshed = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: login.body.refreshToken } });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get("cache-control")).toBe("no-store");
    expect((await api.get("/api/auth/me", login.body.accessToken)).headers.get("cache-control")).toBe("no-store");
    expect((await api.get(`/api/user/${user.id}`, login.body.accessToken)).headers.get("cache-control")).toContain("no-store");
  });

  it("HSTS only when the request came over TLS through a trusted proxy", async () => {
    const plain = await rawHttp(platform.baseUrl, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(plain.headers.get("strict-transport-security")).toBeNull();
    const tls = await rawHttp(platform.baseUrl, "GET /health HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n");
    expect(tls.headers.get("strict-transport-security")).toMatch(/max-age=\d+/);
  });

  it("the status page has a CSP that forbids framing", async () => {
    const page = await apiClient(platform.baseUrl).get("/status");
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
  });
});

describe("HSTS is not taken from an untrusted X-Forwarded-Proto", () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform(backends()[0]!);
  });
  afterAll(async () => platform?.stop());

  it("ignores X-Forwarded-Proto without TRUSTED_PROXIES", async () => {
    const answer = await rawHttp(platform.baseUrl, "GET /health HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n");
    expect(answer.headers.get("strict-transport-security")).toBeNull();
  });
});
