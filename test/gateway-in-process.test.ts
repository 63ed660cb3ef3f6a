import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, type ApiResponse } from "./helpers/api.ts";
import { pngBytes, uploadFile } from "./helpers/attachments.ts";
import { backends } from "./helpers/backends.ts";
import { allLogLines } from "./helpers/log-lines.ts";
import { startTestPlatform, type Composition, type TestPlatform } from "./helpers/platform.ts";

/**
 * `azora up` composed in-process and through the loopback proxy (docs/adr/0195): one script of requests,
 * sent to both, must give the same statuses, error codes, bodies' shapes, headers and metric series, and
 * the in-process one must take no second hop (one access line per request, none from the users listener).
 */

/** Headers whose values differ between any two answers (time, ids, sizes, budgets left). */
const varying = new Set(["date", "x-request-id", "content-length", "etag", "location", "ratelimit-remaining", "ratelimit-reset", "content-disposition", "last-modified"]);
/**
 * Hop-by-hop headers describe the connection, not the answer. They differ in one case: a body that fails
 * to parse closes the connection in-process (Fastify's rule after a parser error), where the proxy read
 * the body as bytes and kept the client's connection open.
 */
const hopByHop = new Set(["connection", "keep-alive"]);

interface Seen {
  step: string;
  status: number;
  code: string | undefined;
  keys: string[];
  headers: Record<string, string>;
}

const shapeOf = (step: string, response: ApiResponse): Seen => {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (!hopByHop.has(name)) headers[name] = varying.has(name) ? "*" : value;
  });
  const body = response.body;
  return {
    step,
    status: response.status,
    code: body && typeof body === "object" && "error" in body ? body.error.code : undefined,
    keys: body && typeof body === "object" ? Object.keys(body).sort() : [],
    headers,
  };
};

/** The same requests, in the same order, against one platform; returns what came back and the request ids sent. */
async function script(platform: TestPlatform): Promise<{ seen: Seen[]; userId: string }> {
  const api = apiClient(platform.baseUrl);
  const seen: Seen[] = [];
  const step = async (name: string, response: Promise<ApiResponse> | ApiResponse) => void seen.push(shapeOf(name, await response));
  const user = await api.newUser("shape");
  const other = await api.newUser("other");
  await step("health", api.get("/health"));
  await step("jwks", api.get("/.well-known/jwks.json"));
  await step("read miss", api.get(`/api/user/${user.id}`, user.accessToken));
  await step("read hit", api.get(`/api/user/${user.id}`, user.accessToken));
  await step("read head", api.call("HEAD", `/api/user/${user.id}`, { token: user.accessToken }));
  await step("read other", api.get(`/api/user/${other.id}`, user.accessToken));
  await step("read no token", api.get(`/api/user/${user.id}`));
  await step("read bad token", api.get(`/api/user/${user.id}`, "not-a-token"));
  await step("read spoofed", api.call("GET", `/api/user/${other.id}`, { token: user.accessToken, headers: { "x-user-id": other.id, "x-forwarded-user": other.id } }));
  await step("read bad id", api.get("/api/user/not-a-uuid", user.accessToken));
  await step("patch", api.call("PATCH", `/api/user/${user.id}`, { token: user.accessToken, json: { name: "Grace Hopper" } }));
  await step("patch bad json", api.call("PATCH", `/api/user/${user.id}`, { token: user.accessToken, raw: "{", headers: { "content-type": "application/json" } }));
  await step("patch text", api.call("PATCH", `/api/user/${user.id}`, { token: user.accessToken, raw: "name", headers: { "content-type": "text/plain" } }));
  const created = await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "Hello" } });
  await step("content create", created);
  await step("content list", api.get("/api/content", user.accessToken));
  await step("content bad field", api.call("POST", "/api/content", { token: user.accessToken, json: { title: "" } }));
  await step("upload", uploadFile(platform.baseUrl, user.accessToken, created.body.id, { bytes: pngBytes(), filename: "a.png", type: "image/png" }));
  await step("upload json", api.call("POST", `/api/content/${created.body.id}/attachments`, { token: user.accessToken, json: {} }));
  await step("attachments", api.get(`/api/content/${created.body.id}/attachments`, user.accessToken));
  await step("export", api.get("/api/user/me/export", other.accessToken));
  await step("me", api.get("/api/auth/me", user.accessToken));
  await step("login wrong", api.call("POST", "/api/auth/login", { json: { email: user.email, password: "wrong password" } }));
  await step("login form", api.call("POST", "/api/auth/login", { raw: "email=x", headers: { "content-type": "application/x-www-form-urlencoded" } }));
  await step("unknown", api.get("/api/nothing-here"));
  await step("service health not public", api.get("/api/user/../health"));
  await step("erase", api.call("DELETE", "/api/user/me", { token: other.accessToken, json: { password: other.password } }));
  return { seen, userId: user.id };
}

/** The http_requests_total series of the public routes, as "service method route status". */
const seriesOf = (exposition: string) =>
  exposition
    .split("\n")
    .filter((line) => line.startsWith("http_requests_total{") && !line.includes('route="/health"'))
    .map((line) => line.slice(0, line.lastIndexOf(" ")))
    .sort();

describe.each(backends().slice(0, 1))("azora up in-process and through the proxy on $name", (backend) => {
  const platforms = new Map<Composition, TestPlatform>();
  const results = new Map<Composition, Awaited<ReturnType<typeof script>> & { metrics: string }>();

  beforeAll(async () => {
    for (const composition of ["in-process", "proxy"] as const) {
      const platform = await startTestPlatform(backend, {}, { composition });
      platforms.set(composition, platform);
      const result = await script(platform);
      const metrics = await (await fetch(new URL("/metrics", platform.opsUrl))).text();
      results.set(composition, { ...result, metrics });
    }
    // Two platform starts and two scripts: on a busy shared machine this took over two minutes.
  }, 400_000);
  afterAll(async () => {
    for (const platform of platforms.values()) await platform.stop();
  });

  it("gives the same statuses, error codes, body shapes and headers", () => {
    const inProcess = results.get("in-process")!.seen;
    const proxy = results.get("proxy")!.seen;
    expect(inProcess.map((seen) => seen.step)).toEqual(proxy.map((seen) => seen.step));
    for (const [index, seen] of inProcess.entries()) expect(seen, seen.step).toEqual(proxy[index]);
    // The script covers what it means to: cache headers, refusals, the edge's rate-limit headers.
    const byStep = new Map(inProcess.map((seen) => [seen.step, seen]));
    expect(byStep.get("read hit")?.headers["x-cache"]).toBe("HIT");
    expect(byStep.get("read spoofed")?.status).toBe(403);
    expect(byStep.get("upload")?.status).toBe(201);
    expect(byStep.get("read hit")?.headers["ratelimit-limit"]).toBeDefined();
  });

  it("exposes the same http_requests_total series, with the services' own series", () => {
    const inProcess = seriesOf(results.get("in-process")!.metrics);
    expect(inProcess).toEqual(seriesOf(results.get("proxy")!.metrics));
    expect(inProcess).toContainEqual(expect.stringContaining('service="users",method="GET",route="/api/user/:id",status="200"'));
    expect(inProcess).toContainEqual(expect.stringContaining('service="auth",method="POST",route="/api/auth/login",status="401"'));
  });

  it("writes one access line per request, the gateway's, with the same fields as through the proxy", async () => {
    const accessLines = async (composition: Composition) =>
      (await allLogLines(platforms.get(composition)!.config.paths.logs, "api"))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.event === "http_request" && line.route === "/api/user/:id");
    const inProcess = await accessLines("in-process");
    const proxy = await accessLines("proxy");
    // Through the proxy the users listener writes its own line for the loopback hop; in-process there is none.
    expect(proxy.some((line) => line.service === "users")).toBe(true);
    expect(inProcess.every((line) => line.service === "gateway")).toBe(true);
    const ids = inProcess.map((line) => line.requestId);
    expect(new Set(ids).size).toBe(ids.length);
    const fields = (lines: Record<string, unknown>[]) => [...new Set(lines.filter((line) => line.service === "gateway").flatMap(Object.keys))].sort();
    expect(fields(inProcess)).toEqual(fields(proxy));
    const userId = results.get("in-process")!.userId;
    expect(inProcess.find((line) => line.user === userId && line.status === 200)?.tokenId).toEqual(expect.any(String));
  });

  it("lists both services' breakers on the ops port in both shapes", async () => {
    for (const platform of platforms.values()) {
      const response = await fetch(new URL("/debug/circuit-breakers", platform.opsUrl));
      const body = (await response.json()) as { breakers: { name: string; state: string }[] };
      expect(body.breakers.map((breaker) => [breaker.name, breaker.state])).toEqual([["auth", "closed"], ["users", "closed"]]);
    }
  });
});
