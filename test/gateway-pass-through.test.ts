import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActiveUsers } from "../src/platform/active-users.ts";
import { createMemoryCache } from "../src/platform/cache/memory.ts";
import { systemClock } from "../src/platform/clock.ts";
import { listen } from "../src/platform/http.ts";
import { createLogs, type Logs } from "../src/platform/logger.ts";
import { createMetrics, type Metrics } from "../src/platform/metrics.ts";
import { createGatewayApp } from "../src/services/gateway/gateway.app.ts";
import { testConfig } from "./helpers/platform.ts";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request over a fresh connection, with exactly the headers given (fetch would drop Content-Length). */
function call(url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: "GET", headers, agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end();
  });
}

/**
 * The proxy's pass-through lane (docs/adr/0530) against Fastify's path for the same route: a bodiless GET
 * takes the lane, the same GET with `Content-Length: 0` takes Fastify's route. For every kind of answer a
 * service may give, and for the gateway's own errors, both must give the same status, headers, body, the
 * same request to the service, the same metrics and the same access line.
 */
describe("gateway pass-through lane", () => {
  const large = "y".repeat(200 * 1024);
  let seen: IncomingHttpHeaders[] = [];
  let reachedFastify: string[] = [];
  let upstream: Server;
  let logs: Logs;
  let logDir: string;
  let metrics: Metrics;
  let gateway: ReturnType<typeof createGatewayApp>;
  let down: ReturnType<typeof createGatewayApp>;
  let baseUrl: string;
  let downUrl: string;

  beforeAll(async () => {
    upstream = createServer((request, response) => {
      request.resume();
      seen.push(request.headers);
      const kind = request.headers["x-answer"];
      if (kind === "small") {
        response.writeHead(200, { "content-type": "application/json", "content-length": "11", "x-service": "auth", "set-cookie": ["a=1", "b=2"] });
        response.end('{"ok":true}');
      } else if (kind === "untyped") {
        response.writeHead(200, { "content-length": "5" });
        response.end("plain");
      } else if (kind === "large") {
        response.writeHead(200, { "content-type": "text/plain", "content-length": String(large.length) });
        response.end(large);
      } else if (kind === "chunked") {
        response.writeHead(200, { "content-type": "text/plain" });
        response.write("first,");
        setTimeout(() => response.end("second"), 10);
      } else if (kind === "empty") {
        response.writeHead(204, { "x-service": "auth" });
        response.end();
      } else {
        response.writeHead(503, { "content-type": "application/json", "content-length": "2" });
        response.end("{}");
      }
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", () => resolve()));
    const address = upstream.address();
    if (address === null || typeof address === "string") throw new Error("no upstream address");

    logDir = await mkdtemp(join(tmpdir(), "azora-pass-through-"));
    logs = createLogs({ dir: logDir, level: "info", stdout: false });
    metrics = createMetrics({ service: "gateway", version: "test", sources: { activeConnections: () => 0, maxConnections: () => 1, queryCount: () => 0, activeUsers: async () => 0, logWriteErrors: () => logs.writeErrors() } });
    const start = (origin: string) =>
      createGatewayApp({
        config: testConfig({ DATA_DIR: logDir }),
        logger: logs.api,
        metrics,
        activeUsers: createActiveUsers(createMemoryCache(), systemClock),
        upstreams: { auth: origin, users: origin },
      });
    gateway = start(`http://127.0.0.1:${address.port}`);
    // Which requests reached Fastify's pipeline: the lane's must not.
    gateway.app.addHook("onRequest", (request, _reply, done) => {
      reachedFastify.push(request.id);
      done();
    });
    baseUrl = `http://127.0.0.1:${await listen(gateway.app, "127.0.0.1", 0)}`;
    // Nothing listens on port 9 of the loopback: every exchange fails to connect.
    down = start("http://127.0.0.1:9");
    downUrl = `http://127.0.0.1:${await listen(down.app, "127.0.0.1", 0)}`;
  });

  afterAll(async () => {
    for (const started of [gateway, down]) {
      await started?.app.close();
      await started?.close();
    }
    await new Promise((resolve) => upstream?.close(resolve));
    logs?.close();
    await rm(logDir, { recursive: true, force: true });
  });

  /**
   * The same request through the lane and through Fastify's route, with request ids of our choosing (of the
   * same length, so that error bodies, which carry them, have the same length).
   */
  const both = async (url: string, kind: string, tag = "0001") => {
    seen = [];
    reachedFastify = [];
    const lane = await call(url, { "x-answer": kind, "x-request-id": `lane-${kind}-${tag}` });
    const fastify = await call(url, { "x-answer": kind, "x-request-id": `fast-${kind}-${tag}`, "content-length": "0" });
    return { lane, fastify };
  };
  /**
   * Headers to compare: the request id and the date differ by design (each is checked on its own), and the
   * second request has one request less left in its rate-limit budget.
   */
  const comparable = (answer: Answer, requestId: string) => {
    expect(answer.headers["x-request-id"]).toBe(requestId);
    expect(answer.headers.date).toBeDefined();
    expect(Number(answer.headers["ratelimit-remaining"])).toBeGreaterThan(0);
    const { date: _date, "x-request-id": _id, "ratelimit-remaining": _left, ...rest } = answer.headers;
    return { status: answer.status, headers: rest, body: answer.body.replaceAll(requestId, "<request id>") };
  };

  for (const kind of ["small", "untyped", "large", "chunked", "empty", "outage"]) {
    it(`gives the same ${kind} answer as Fastify's route, and sends the service the same request`, async () => {
      const { lane, fastify } = await both(`${baseUrl}/.well-known/jwks.json`, kind);
      expect(reachedFastify).toEqual([`fast-${kind}-0001`]);
      expect(comparable(lane, `lane-${kind}-0001`)).toEqual(comparable(fastify, `fast-${kind}-0001`));
      expect(seen).toHaveLength(2);
      const [toService, viaFastify] = seen.map(({ "x-request-id": _id, ...rest }) => rest);
      expect(toService).toEqual(viaFastify);
    });
  }

  it("refuses in the same error shape when the service cannot be reached", async () => {
    const { lane, fastify } = await both(`${downUrl}/.well-known/jwks.json`, "small", "0002");
    expect(lane.status).toBe(502);
    expect(JSON.parse(lane.body)).toEqual({ error: { code: "bad_gateway", message: expect.any(String), requestId: "lane-small-0002" } });
    expect(comparable(lane, "lane-small-0002")).toEqual(comparable(fastify, "fast-small-0002"));
  });

  it("leaves what it does not take to Fastify: a path parameter with an escape, HEAD, an unknown route", async () => {
    reachedFastify = [];
    // %20 stays an escape in the canonical path (edge.ts); the router decodes it, the lane does not try.
    const escaped = await call(`${baseUrl}/api/user/a%20b`, { "x-answer": "small" });
    // The route's token check answers (it needs a token), as the Fastify route does.
    expect(escaped.status).toBe(401);
    const head = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${baseUrl}/.well-known/jwks.json`, { method: "HEAD", headers: { "x-answer": "small", "x-request-id": "head-request-0001" }, agent: false }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on("error", reject);
      request.end();
    });
    expect(head).toBe(200);
    const unknown = await call(`${baseUrl}/api/nothing-here`, {});
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: { code: "not_found" } });
    expect(reachedFastify).toHaveLength(3);
    expect(reachedFastify).toContain("head-request-0001");
  });

  it("counts and logs a lane answer as the route's: the same series and the same access line fields", async () => {
    const counted = async () => {
      const text = await metrics.registry.getSingleMetricAsString("http_requests_total");
      const line = text.split("\n").find((one) => one.includes('method="GET"') && one.includes('route="/.well-known/jwks.json"') && one.includes('status="200"'));
      return Number(line?.split(" ").at(-1) ?? 0);
    };
    const before = await counted();
    await both(`${baseUrl}/.well-known/jwks.json`, "small", "0003");
    // Both answers, the lane's and Fastify's, in the one series of the route.
    expect(await counted()).toBe(before + 2);
    const file = join(logDir, "api.log");
    let lines: Record<string, unknown>[] = [];
    // api.log is buffered and flushed at least every second.
    for (let waited = 0; waited < 5_000 && lines.length < 2; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const text = await readFile(file, "utf8").catch(() => "");
      lines = text
        .split("\n")
        .filter((line) => line.includes('"lane-small-0003"') || line.includes('"fast-small-0003"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    }
    const [viaLane, viaFastify] = ["lane-small-0003", "fast-small-0003"].map((id) => lines.find((line) => line.requestId === id));
    expect(viaLane).toBeDefined();
    const shape = (line: Record<string, unknown> | undefined) => ({ ...line, time: undefined, requestId: undefined, durationMs: typeof line?.durationMs });
    expect(shape(viaLane)).toEqual(shape(viaFastify));
    expect(viaLane).toMatchObject({ event: "http_request", route: "/.well-known/jwks.json", path: "/.well-known/jwks.json", status: 200, method: "GET", ip: "127.0.0.1" });
  });
});
