import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPlatformCommand } from "../../src/ops/run-platform-command.ts";
import { setRoleCommand } from "../../src/ops/user.ts";
import { apiClient, expectErrorShape, metricValue } from "./api.ts";
import { backends } from "./backends.ts";
import { startTestPlatform, type Composition, type TestPlatform } from "./platform.ts";

/**
 * The end-to-end suite of the public contract on every backend, in one of `azora up`'s two compositions
 * (docs/adr/0195). One test file per composition, so the two run on two workers at once: the suite is the
 * longest of the Node 24 pass in .ci/run.
 */
export function describeEndToEnd(composition: Composition): void {
  describe.each(backends())(`end to end on $name, composed ${composition}`, (backend) => {
    let platform: TestPlatform;
    let api: ReturnType<typeof apiClient>;
    const scrape = async () => (await fetch(new URL("/metrics", platform.opsUrl))).text();

    beforeAll(async () => {
      platform = await startTestPlatform(backend, {}, { composition });
      api = apiClient(platform.baseUrl);
    });
    afterAll(async () => platform?.stop());

    it("answers the public health check with status and version only", async () => {
      const response = await api.get("/health");
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ status: "ok", version: platform.config.version });
      expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    });

    it("registers without revealing whether the email exists", async () => {
      const body = { email: "twice@example.com", password: "long enough password" };
      const first = await api.call("POST", "/api/auth/register", { json: body });
      const second = await api.call("POST", "/api/auth/register", { json: { ...body, password: "another password" } });
      expect([first.status, second.status]).toEqual([202, 202]);
      expect(second.body).toEqual(first.body);
      // The first password stays the valid one.
      expect((await api.call("POST", "/api/auth/login", { json: body })).status).toBe(200);
      expect((await api.call("POST", "/api/auth/login", { json: { ...body, password: "another password" } })).status).toBe(401);
    });

    it("logs in with the email in any case and returns a bearer pair", async () => {
      await api.call("POST", "/api/auth/register", { json: { email: "Case@Example.com", password: "case password 1" } });
      const login = await api.call("POST", "/api/auth/login", { json: { email: "CASE@example.COM", password: "case password 1" } });
      expect(login.status).toBe(200);
      expect(login.body).toMatchObject({ tokenType: "Bearer", expiresIn: 900 });
      expect(login.body.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });

    it("answers every failed login the same way", async () => {
      const user = await api.newUser();
      const wrong = await api.call("POST", "/api/auth/login", { json: { email: user.email, password: "wrong password" } });
      const unknown = await api.call("POST", "/api/auth/login", { json: { email: "nobody@example.com", password: "whatever" } });
      expectErrorShape(wrong, 401, "invalid_credentials");
      expectErrorShape(unknown, 401, "invalid_credentials");
      expect(wrong.body.error.message).toBe(unknown.body.error.message);
    });

    it("publishes EdDSA signing keys with a kid", async () => {
      const response = await api.get("/.well-known/jwks.json");
      expect(response.status).toBe(200);
      expect(response.body.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
      expect(response.body.keys[0].kid).toBeTruthy();
      expect(response.body.keys[0].d).toBeUndefined();
    });

    it("serves the second read of a user from the cache without a database query, and a PATCH invalidates it", async () => {
      const user = await api.newUser();
      const first = await api.get(`/api/user/${user.id}`, user.accessToken);
      expect(first.status).toBe(200);
      expect(first.headers.get("x-cache")).toBe("MISS");
      expect(first.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(Object.keys(first.body).sort()).toEqual(["createdAt", "email", "id", "name", "role", "updatedAt"]);
      // The process's background work (the mail outbox, the policy and maintenance polls) may run a statement
      // between two scrapes on a busy machine; a read served from the cache runs none, so of three bracketed
      // reads at least one shows no statement at all (a read that queried would show one every time).
      const queryDeltas: number[] = [];
      let queriesAfter = 0;
      for (let attempt = 0; attempt < 3; attempt++) {
        const queriesBefore = metricValue(await scrape(), "azora_db_queries_total");
        const second = await api.get(`/api/user/${user.id}`, user.accessToken);
        queriesAfter = metricValue(await scrape(), "azora_db_queries_total");
        expect(second.headers.get("x-cache")).toBe("HIT");
        expect(second.body).toEqual(first.body);
        // The cached JSON text is sent as it is: the same bytes and headers as the read that filled the cache.
        for (const header of ["content-type", "content-length", "cache-control"]) expect(second.headers.get(header), header).toBe(first.headers.get(header));
        queryDeltas.push(queriesAfter - queriesBefore);
      }
      expect(Math.min(...queryDeltas)).toBe(0);

      const patched = await api.call("PATCH", `/api/user/${user.id}`, { token: user.accessToken, json: { name: "Ada Lovelace" } });
      expect(patched.status).toBe(200);
      expect(patched.body.name).toBe("Ada Lovelace");
      const third = await api.get(`/api/user/${user.id}`, user.accessToken);
      expect(third.headers.get("x-cache")).toBe("MISS");
      expect(third.body.name).toBe("Ada Lovelace");
      expect(metricValue(await scrape(), "azora_db_queries_total")).toBeGreaterThan(queriesAfter);
    });

    it("creates, lists, reads, replaces and deletes content", async () => {
      const user = await api.newUser();
      const created = await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "Hello", body: "Wörld ✓ 🚀" } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ title: "Hello", body: "Wörld ✓ 🚀", ownerId: user.id });
      const id = created.body.id as string;
      const list = await api.get("/api/content", user.accessToken);
      expect(list.body.items.map((item: { id: string }) => item.id)).toEqual([id]);
      expect((await api.get(`/api/content/${id}`, user.accessToken)).body.title).toBe("Hello");
      const replaced = await api.call("PUT", `/api/content/${id}`, { token: user.accessToken, json: { title: "Changed", body: "" } });
      expect(replaced.body).toMatchObject({ title: "Changed", body: "" });
      expect((await api.call("DELETE", `/api/content/${id}`, { token: user.accessToken })).status).toBe(204);
      expectErrorShape(await api.get(`/api/content/${id}`, user.accessToken), 404, "not_found");
    });

    it("keeps each user to their own data", async () => {
      const alice = await api.newUser("alice");
      const bob = await api.newUser("bob");
      const item = await api.call("POST", "/api/content", { token: alice.accessToken, json: { title: "private" } });
      expectErrorShape(await api.get(`/api/user/${alice.id}`, bob.accessToken), 403, "forbidden");
      expectErrorShape(await api.call("PATCH", `/api/user/${alice.id}`, { token: bob.accessToken, json: { name: "x" } }), 403, "forbidden");
      expectErrorShape(await api.get(`/api/content/${item.body.id}`, bob.accessToken), 404, "not_found");
      expectErrorShape(await api.call("PUT", `/api/content/${item.body.id}`, { token: bob.accessToken, json: { title: "mine" } }), 404, "not_found");
      expectErrorShape(await api.call("DELETE", `/api/content/${item.body.id}`, { token: bob.accessToken }), 404, "not_found");
      expect((await api.get("/api/content", bob.accessToken)).body.items).toEqual([]);
      expect((await api.get(`/api/content/${item.body.id}`, alice.accessToken)).status).toBe(200);
    });

    it("does not take identity from forwarded headers or forged tokens", async () => {
      const alice = await api.newUser("alice");
      const bob = await api.newUser("bob");
      const spoofed = await api.call("GET", `/api/user/${alice.id}`, { token: bob.accessToken, headers: { "x-user-id": alice.id, "x-forwarded-user": alice.id } });
      expectErrorShape(spoofed, 403, "forbidden");
      expectErrorShape(await api.call("GET", `/api/user/${alice.id}`, { headers: { "x-user-id": alice.id } }), 401, "unauthorized");

      const jwks = (await api.get("/.well-known/jwks.json")).body;
      const foreignKey = await generateKeyPair("EdDSA", { crv: "Ed25519" });
      const forged = await new SignJWT({})
        .setProtectedHeader({ alg: "EdDSA", kid: jwks.keys[0].kid, typ: "at+jwt" })
        .setSubject(alice.id)
        .setIssuer(platform.config.tokens.issuer)
        .setAudience(platform.config.tokens.audience)
        .setIssuedAt()
        .setExpirationTime("5m")
        .setJti("forged")
        .sign(foreignKey.privateKey);
      expectErrorShape(await api.get(`/api/user/${alice.id}`, forged), 401, "invalid_token");

      const [header, , signature] = bob.accessToken.split(".");
      const payload = Buffer.from(JSON.stringify({ sub: alice.id, iss: platform.config.tokens.issuer, aud: platform.config.tokens.audience, exp: 9999999999, jti: "x" })).toString("base64url");
      expectErrorShape(await api.get(`/api/user/${alice.id}`, `${header}.${payload}.${signature}`), 401, "invalid_token");
      const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString("base64url")}.${payload}.`;
      expectErrorShape(await api.call("GET", `/api/user/${alice.id}`, { headers: { authorization: `Bearer ${none}` } }), 401);
      expectErrorShape(await api.call("GET", "/api/auth/me", { headers: { authorization: "Basic abc" } }), 401);
    });

    it("verifies tokens again behind the gateway: a direct call to a service without a token is refused", async () => {
      const alice = await api.newUser("alice");
      const direct = apiClient(platform.running.urls.users ?? "");
      expectErrorShape(await direct.call("GET", `/api/user/${alice.id}`, { headers: { "x-user-id": alice.id } }), 401, "unauthorized");
      expect((await direct.get(`/api/user/${alice.id}`, alice.accessToken)).status).toBe(200);
    });

    it("rotates refresh tokens and revokes the family when a used one comes back", async () => {
      const user = await api.newUser();
      const rotated = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: user.refreshToken } });
      expect(rotated.status).toBe(200);
      expect(rotated.body.refreshToken).not.toBe(user.refreshToken);
      // The successor is used, so the first token coming back is no lost answer (grace) but reuse.
      const newest = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: rotated.body.refreshToken } });
      expect(newest.status).toBe(200);
      expectErrorShape(await api.call("POST", "/api/auth/refresh", { json: { refreshToken: user.refreshToken } }), 401, "token_reused");
      // The thief's replay also ended the legitimate holder's session.
      expectErrorShape(await api.call("POST", "/api/auth/refresh", { json: { refreshToken: newest.body.refreshToken } }), 401, "token_reused");
      expectErrorShape(await api.call("POST", "/api/auth/refresh", { json: { refreshToken: "x".repeat(43) } }), 401, "invalid_token");
    });

    it("logs out by revoking the refresh token", async () => {
      const user = await api.newUser();
      expect((await api.call("POST", "/api/auth/logout", { json: { refreshToken: user.refreshToken } })).status).toBe(204);
      expect((await api.call("POST", "/api/auth/refresh", { json: { refreshToken: user.refreshToken } })).status).toBe(401);
    });

    it("promotes a user while the platform runs, and the new role counts at once", async () => {
      const admin = await api.newUser("admin");
      const other = await api.newUser("other");
      await api.get(`/api/user/${admin.id}`, admin.accessToken); // warm the cache with the old role
      expectErrorShape(await api.get(`/api/user/${other.id}`, admin.accessToken), 403, "forbidden");
      const output: string[] = [];
      const io = { out: (text: string) => output.push(text), err: (text: string) => output.push(text) };
      const code = await runPlatformCommand(platform.config, setRoleCommand, { email: admin.email, role: "admin" }, io);
      expect(output.join("\n")).toContain("is now an admin");
      expect(code).toBe(0);
      const read = await api.get(`/api/user/${other.id}`, admin.accessToken);
      expect(read.status).toBe(200);
      expect(read.body.email).toBe(other.email);
      expect((await api.get("/api/auth/me", admin.accessToken)).body.role).toBe("admin");
    });

    it("exposes the guide's metrics with their labels on the ops port only", async () => {
      await api.get("/api/does-not-exist");
      const exposition = await scrape();
      expect(exposition).toMatch(/^http_requests_total\{service="gateway",method="POST",route="\/api\/auth\/login",status="200"\} \d+/m);
      expect(exposition).toMatch(/^http_requests_total\{service="users",method="GET",route="\/api\/user\/:id",status="200"\} \d+/m);
      expect(exposition).toMatch(/^http_requests_total\{service="gateway",method="GET",route="unmatched",status="404"\} \d+/m);
      expect(exposition).toMatch(/^http_request_duration_seconds_bucket\{le="[^"]+",service="gateway",method="GET",route="\/api\/user\/:id"\} \d+/m);
      expect(metricValue(exposition, "active_users_total")).toBeGreaterThanOrEqual(2);
      expect(exposition).toMatch(/^database_connections_active\{service="azora"\} \d+/m);
      expect(exposition).not.toMatch(/route="\/api\/user\/[0-9a-f]{8}-/);
      expectErrorShape(await api.get("/metrics"), 404, "not_found");
      expectErrorShape(await api.get("/health/ready"), 404, "not_found");
    });

    it("reports every dependency with its latency on the ops /health", async () => {
      const response = await fetch(new URL("/health", platform.opsUrl));
      const body = (await response.json()) as { status: string; checks: Record<string, { status: string; latencyMs: number }> };
      expect(response.status).toBe(200);
      expect(Object.keys(body.checks).sort()).toEqual(["auth", "cache", "database", "gateway", "logs", "users"]);
      for (const check of Object.values(body.checks)) {
        expect(check.status).toBe("ok");
        expect(check.latencyMs).toBeGreaterThanOrEqual(0);
      }
      expect((await fetch(new URL("/health/live", platform.opsUrl))).status).toBe(200);
      expect((await fetch(new URL("/health/ready", platform.opsUrl))).status).toBe(200);
    });

    it("keeps the caller's well-formed request id and replaces a malformed one", async () => {
      const kept = await api.call("GET", "/health", { headers: { "x-request-id": "trace-1234abcd" } });
      expect(kept.headers.get("x-request-id")).toBe("trace-1234abcd");
      const replaced = await api.call("GET", "/health", { headers: { "x-request-id": "bad id\twith spaces" } });
      expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      const error = await api.call("GET", "/api/nope", { headers: { "x-request-id": "trace-5678efgh" } });
      expect(error.body.error.requestId).toBe("trace-5678efgh");
    });
  });
}
