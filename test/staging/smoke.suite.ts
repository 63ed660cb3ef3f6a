// The smoke suite: read-only (it creates, changes and deletes nothing), a dozen requests with a deadline
// each, so it finishes well under 30 s. Run after every deploy: `npm run test:smoke:staging`.
import { describe, expect, it } from "vitest";
import { errorOf, request } from "./target.ts";

/** Registers the smoke tests against the deployment at baseUrl() (read when the tests run). */
export function smokeSuite(baseUrl: () => string): void {
  describe("smoke", () => {
    it("answers public health with status and version only", async () => {
      const health = await request(baseUrl(), "GET", "/health");
      expect(health.status).toBe(200);
      expect(Object.keys(health.body).sort()).toEqual(["status", "version"]);
      expect(health.body.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(health.headers.get("x-request-id")).toBeTruthy();
    });

    it("publishes the signing keys with key ids", async () => {
      const jwks = await request(baseUrl(), "GET", "/.well-known/jwks.json");
      expect(jwks.status).toBe(200);
      expect(jwks.body.keys.length).toBeGreaterThan(0);
      for (const key of jwks.body.keys) {
        expect(key.kid).toBeTruthy();
        expect(key.d).toBeUndefined(); // never a private part
      }
    });

    it("serves the status page, with every component named", async () => {
      const status = await request(baseUrl(), "GET", "/status.json");
      expect(status.status).toBe(200);
      expect(status.body.components.map((component: { name: string }) => component.name)).toEqual(["gateway", "auth", "users"]);
    });

    it("refuses an anonymous call in the one error shape", async () => {
      expect(errorOf(await request(baseUrl(), "GET", "/api/auth/me"))).toEqual({ status: 401, code: "unauthorized", hasMessage: true, hasRequestId: true });
      expect(errorOf(await request(baseUrl(), "GET", "/api/auth/me", { token: "not-a-token" }))).toMatchObject({ status: 401, hasRequestId: true });
    });

    it("answers an unknown route with 404 and the caller's request id", async () => {
      const answer = await request(baseUrl(), "GET", "/api/no-such-route", { headers: { "x-request-id": "smoke-check-0001" } });
      expect(errorOf(answer)).toEqual({ status: 404, code: "not_found", hasMessage: true, hasRequestId: true });
      expect(answer.body.error.requestId).toBe("smoke-check-0001");
    });

    it("keeps the ops endpoints off the public port", async () => {
      for (const path of ["/metrics", "/health/ready", "/health/live", "/debug/circuit-breakers"]) {
        expect((await request(baseUrl(), "GET", path)).status, path).toBe(404);
      }
    });

    it("rejects malformed input with a 4xx, never a 500", async () => {
      const answer = await fetch(new URL("/api/auth/login", baseUrl()), { method: "POST", headers: { "content-type": "application/json" }, body: '{"email":', signal: AbortSignal.timeout(5_000) });
      expect(answer.status).toBe(400);
    });
  });
}
