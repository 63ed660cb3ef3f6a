// The integration suite: the HTTP contract end to end, as a client sees it, with users it creates for
// itself and erases afterwards (self-service erasure), so it can run against staging again and again.
// `npm run test:integration:staging`.
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { errorOf, request, requestDeadlineMs } from "./target.ts";

interface TestUser {
  email: string;
  password: string;
  id: string;
  accessToken: string;
  refreshToken: string;
}

/** Registers the integration tests against the deployment at baseUrl() (read when the tests run). */
export function integrationSuite(baseUrl: () => string): void {
  const created: TestUser[] = [];
  const call = (method: string, path: string, options: Parameters<typeof request>[3] = {}) => request(baseUrl(), method, path, options);

  async function newUser(): Promise<TestUser> {
    // example.com never receives mail; the random part keeps runs and parallel suites apart.
    const email = `staging-check-${randomBytes(6).toString("hex")}@example.com`;
    const password = `staging ${randomBytes(12).toString("hex")}`;
    expect((await call("POST", "/api/auth/register", { json: { email, password } })).status).toBe(202);
    const login = await call("POST", "/api/auth/login", { json: { email, password } });
    expect(login.status).toBe(200);
    const me = await call("GET", "/api/auth/me", { token: login.body.accessToken });
    const user = { email, password, id: me.body.id as string, accessToken: login.body.accessToken as string, refreshToken: login.body.refreshToken as string };
    created.push(user);
    return user;
  }

  /** Fresh tokens for a user whose session an earlier step ended (refresh reuse, password change). */
  async function relogin(user: TestUser): Promise<void> {
    const login = await call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } });
    expect(login.status).toBe(200);
    user.accessToken = login.body.accessToken;
    user.refreshToken = login.body.refreshToken;
  }

  afterAll(async () => {
    // Erase every user this run created, even after a failure; what remains would be staging's clutter.
    for (const user of created) {
      await relogin(user).catch(() => undefined);
      await call("DELETE", "/api/user/me", { token: user.accessToken, json: { password: user.password } }).catch(() => undefined);
    }
  });

  describe("integration", () => {
    it("registers without telling whether an email exists, and logs in with a token pair", async () => {
      const user = await newUser();
      expect((await call("POST", "/api/auth/register", { json: { email: user.email, password: "another password 1" } })).status).toBe(202);
      const login = await call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } });
      expect(login.body).toMatchObject({ tokenType: "Bearer", expiresIn: expect.any(Number) });
      expect(errorOf(await call("POST", "/api/auth/login", { json: { email: user.email, password: "wrong password 1" } }))).toMatchObject({ status: 401, code: "invalid_credentials" });
      const me = await call("GET", "/api/auth/me", { token: user.accessToken });
      expect(me.status).toBe(200);
      expect(me.body.email).toBe(user.email);
    });

    it("signs access tokens with a key the JWKS publishes", async () => {
      const user = await newUser();
      const header = JSON.parse(Buffer.from(user.accessToken.split(".")[0]!, "base64url").toString()) as { kid: string; alg: string };
      const jwks = await call("GET", "/.well-known/jwks.json");
      expect(jwks.body.keys.map((key: { kid: string }) => key.kid)).toContain(header.kid);
      expect(header.alg).toBe("EdDSA");
    });

    it("reads and updates the own user through the cache, and keeps other users out", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      expect((await call("GET", `/api/user/${alice.id}`, { token: alice.accessToken })).status).toBe(200);
      const patched = await call("PATCH", `/api/user/${alice.id}`, { token: alice.accessToken, json: { name: "Staging Check" } });
      expect(patched.status).toBe(200);
      expect((await call("GET", `/api/user/${alice.id}`, { token: alice.accessToken })).body.name).toBe("Staging Check");
      expect(errorOf(await call("GET", `/api/user/${alice.id}`, { token: bob.accessToken }))).toMatchObject({ status: 403, code: "forbidden" });
      expect(errorOf(await call("GET", `/api/user/${alice.id}`, { headers: { "x-user-id": alice.id } }))).toMatchObject({ status: 401 });
    });

    it("creates, reads, replaces and deletes content, visible to its owner only", async () => {
      const [owner, other] = [await newUser(), await newUser()];
      const created = await call("POST", "/api/content", { token: owner.accessToken, json: { title: "Staging", body: "Wörld ✓ 🚀" } });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      expect((await call("GET", `/api/content/${id}`, { token: owner.accessToken })).body.body).toBe("Wörld ✓ 🚀");
      expect(errorOf(await call("GET", `/api/content/${id}`, { token: other.accessToken }))).toMatchObject({ status: 404, code: "not_found" });
      expect((await call("PUT", `/api/content/${id}`, { token: owner.accessToken, json: { title: "Changed", body: "" } })).status).toBe(200);
      expect((await call("DELETE", `/api/content/${id}`, { token: owner.accessToken })).status).toBe(204);
      expect(errorOf(await call("GET", `/api/content/${id}`, { token: owner.accessToken }))).toMatchObject({ status: 404, code: "not_found" });
    });

    it("rotates refresh tokens, and a reused one ends the family", async () => {
      const user = await newUser();
      const rotated = await call("POST", "/api/auth/refresh", { json: { refreshToken: user.refreshToken } });
      expect(rotated.status).toBe(200);
      // The successor is used first, so the old token coming back is reuse even within the grace interval.
      const newest = await call("POST", "/api/auth/refresh", { json: { refreshToken: rotated.body.refreshToken } });
      expect(newest.status).toBe(200);
      expect(errorOf(await call("POST", "/api/auth/refresh", { json: { refreshToken: user.refreshToken } }))).toMatchObject({ status: 401, code: "token_reused" });
      expect(errorOf(await call("POST", "/api/auth/refresh", { json: { refreshToken: newest.body.refreshToken } }))).toMatchObject({ status: 401, code: "token_reused" });
      await relogin(user);
      expect((await call("POST", "/api/auth/logout", { json: { refreshToken: user.refreshToken } })).status).toBe(204);
      expect((await call("POST", "/api/auth/refresh", { json: { refreshToken: user.refreshToken } })).status).toBe(401);
    });

    it("exports and erases a user on their own request", async () => {
      const user = await newUser();
      const exported = await fetch(new URL("/api/user/me/export", baseUrl()), { headers: { authorization: `Bearer ${user.accessToken}` }, signal: AbortSignal.timeout(requestDeadlineMs) });
      expect(exported.status).toBe(200);
      expect(exported.headers.get("content-type")).toContain("application/gzip");
      // A tar archive, gzipped: its JSON members hold the user's own email in the clear.
      expect(gunzipSync(Buffer.from(await exported.arrayBuffer())).toString("utf8")).toContain(user.email);
      expect((await call("DELETE", "/api/user/me", { token: user.accessToken, json: { password: user.password } })).status).toBe(204);
      created.splice(created.indexOf(user), 1);
      expect(errorOf(await call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } }))).toMatchObject({ status: 401, code: "invalid_credentials" });
    });
  });
}
