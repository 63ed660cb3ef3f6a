import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActiveUsers } from "../src/platform/active-users.ts";
import { createMemoryCache } from "../src/platform/cache/memory.ts";
import { systemClock } from "../src/platform/clock.ts";
import { drain, listen } from "../src/platform/http.ts";
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

/** One request written as given on a fresh connection, and everything the gateway sent back until it closed. */
function rawExchange(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Written, not ended: a half-closed connection has its pending answers dropped by Node.
    const socket = net.connect(port, "127.0.0.1", () => socket.write(head));
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(answer));
  });
}

/**
 * The lane's refusals and the spellings of a path, byte for byte against Fastify's route: the same request
 * written once as it is (the lane may take it) and once with `Content-Length: 0` (Fastify's route takes it).
 * Only Date and RateLimit-Remaining may differ.
 */
describe("gateway pass-through lane: policies, path spellings and drain", () => {
  const maintenance = { enabled: false, message: "Back soon.", retryAfterSeconds: 120, since: null, source: "database" as const };
  let paths: string[] = [];
  let reachedFastify: string[] = [];
  let upstream: Server;
  let logs: Logs;
  let logDir: string;
  const started: ReturnType<typeof createGatewayApp>[] = [];
  let port = 0;
  let limitedPort = 0;
  let start: (env: Record<string, string>) => Promise<{ gateway: ReturnType<typeof createGatewayApp>; port: number }>;

  beforeAll(async () => {
    upstream = createServer((request, response) => {
      request.resume();
      paths.push(`${request.method} ${request.url}`);
      const answer = () => {
        response.writeHead(200, { "content-type": "application/json", "content-length": "11" });
        response.end('{"ok":true}');
      };
      // A slow answer: still in flight when the test starts draining.
      if (request.headers["x-slow"] !== undefined) setTimeout(answer, 300);
      else answer();
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", () => resolve()));
    const address = upstream.address();
    if (address === null || typeof address === "string") throw new Error("no upstream address");
    const origin = `http://127.0.0.1:${address.port}`;
    logDir = await mkdtemp(join(tmpdir(), "azora-pass-through-"));
    logs = createLogs({ dir: logDir, level: "info", stdout: false });
    start = async (env: Record<string, string>) => {
      const metrics = createMetrics({ service: "gateway", version: "test", sources: { activeConnections: () => 0, maxConnections: () => 1, queryCount: () => 0, activeUsers: async () => 0, logWriteErrors: () => logs.writeErrors() } });
      const gateway = createGatewayApp({
        config: testConfig({ DATA_DIR: logDir, CORS_ORIGINS: "https://app.example", ...env }),
        logger: logs.api,
        metrics,
        activeUsers: createActiveUsers(createMemoryCache(), systemClock),
        upstreams: { auth: origin, users: origin },
        maintenance: { current: () => maintenance },
        opsToken: "ops-token-of-the-test",
      });
      gateway.app.addHook("onRequest", (request, _reply, done) => {
        reachedFastify.push(request.id);
        done();
      });
      started.push(gateway);
      return { gateway, port: await listen(gateway.app, "127.0.0.1", 0) };
    };
    port = (await start({})).port;
    limitedPort = (await start({ RATE_LIMIT_READ: "1" })).port;
  });

  afterAll(async () => {
    for (const gateway of started) {
      if (gateway.app.server.listening) await gateway.app.close();
      await gateway.close();
    }
    await new Promise((resolve) => upstream?.close(resolve));
    logs?.close();
    await rm(logDir, { recursive: true, force: true });
  });

  const comparable = (answer: string) => answer.replace(/\r\ndate: [^\r]*/i, "").replace(/\r\nratelimit-remaining: [^\r]*/, "");
  /** The same request through the lane and through Fastify's route: which of them Fastify saw, both answers, the service's paths. */
  const both = async (target: string, headers: Record<string, string> = {}, on = port) => {
    paths = [];
    reachedFastify = [];
    const head = (id: string, extra: string) =>
      `${target} HTTP/1.1\r\nHost: gateway.test\r\nX-Request-Id: ${id}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")}${extra}Connection: close\r\n\r\n`;
    const lane = await rawExchange(on, head("same-request-01", ""));
    const fastify = await rawExchange(on, head("same-request-01", "Content-Length: 0\r\n"));
    return { lane: comparable(lane), fastify: comparable(fastify), laneTook: reachedFastify.length === 1, paths: [...paths] };
  };

  it("refuses a missing or bad token, a DELETE included, as the route does, with its RateLimit headers", async () => {
    for (const [target, headers] of [
      ["GET /api/user/me", {}],
      ["GET /api/user/me", { Authorization: "Bearer not.a.token" }],
      ["DELETE /api/content/0b7e0a47-5a3c-4d0f-9a51-2a4c1e0f6d11", {}],
    ] as const) {
      const { lane, fastify, laneTook } = await both(target, headers);
      expect(laneTook).toBe(true);
      expect(lane).toMatch(/^HTTP\/1\.1 401 [^]*\r\nratelimit-limit: /);
      expect(lane).toBe(fastify);
    }
  });

  it("answers 503 in maintenance, with its message and Retry-After, and lets the ops token through", async () => {
    maintenance.enabled = true;
    try {
      const refused = await both("GET /.well-known/jwks.json");
      expect(refused.laneTook).toBe(true);
      expect(refused.lane).toMatch(/^HTTP\/1\.1 503 [^]*\r\nretry-after: 120\r\n[^]*"message":"Back soon\."/);
      expect(refused.lane).toBe(refused.fastify);
      expect(refused.paths).toEqual([]);
      const wrongToken = await both("GET /.well-known/jwks.json", { "X-Azora-Ops-Token": "ops-token-of-the-tesT" });
      expect(wrongToken.lane).toMatch(/^HTTP\/1\.1 503 /);
      expect(wrongToken.lane).toBe(wrongToken.fastify);
      const operator = await both("GET /.well-known/jwks.json", { "X-Azora-Ops-Token": "ops-token-of-the-test" });
      expect(operator.lane).toMatch(/^HTTP\/1\.1 200 /);
      expect(operator.lane).toBe(operator.fastify);
    } finally {
      maintenance.enabled = false;
    }
  });

  it("answers 429 past the limit with the same headers, and CORS headers for an allowed origin", async () => {
    await both("GET /.well-known/jwks.json", {}, limitedPort);
    const limited = await both("GET /.well-known/jwks.json", {}, limitedPort);
    expect(limited.laneTook).toBe(true);
    expect(limited.lane).toMatch(/^HTTP\/1\.1 429 [^]*\r\nretry-after: /);
    expect(limited.lane).toBe(limited.fastify);
    const cors = await both("GET /.well-known/jwks.json", { Origin: "https://app.example" });
    expect(cors.laneTook).toBe(true);
    expect(cors.lane).toMatch(/\r\nvary: Origin\r\naccess-control-allow-origin: https:\/\/app\.example\r\n/);
    expect(cors.lane).toBe(cors.fastify);
  });

  it("gives every spelling of a path the answer of its canonical form, and refuses the same ones", async () => {
    for (const target of ["GET //.well-known//jwks.json", "GET /.WELL-KNOWN/JWKS.JSON", "GET /.well-known/jwks.json/", "GET /.well-known/jwks%2Ejson?a=%2F.."]) {
      const { lane, fastify, laneTook, paths: seen } = await both(target);
      expect(laneTook).toBe(true);
      expect(lane).toMatch(/^HTTP\/1\.1 200 /);
      expect(lane).toBe(fastify);
      expect(seen).toHaveLength(2);
      expect(seen[0]).toMatch(/^GET \/\.well-known\/jwks\.json(\?a=%2F\.\.)?$/);
      expect(seen[1]).toBe(seen[0]);
    }
    for (const target of ["GET /api/%2e%2e/.well-known/jwks.json", "GET /api/../.well-known/jwks.json", "GET /api/content/a%2Fb", "GET /api/user/a\\b"]) {
      const { lane, fastify, paths: seen } = await both(target);
      expect(lane).toMatch(/^HTTP\/1\.1 400 /);
      expect(lane).toBe(fastify);
      expect(seen).toEqual([]);
    }
  });

  it("finishes a lane request in flight when draining starts, closing its connection, and takes no new one", async () => {
    const { gateway, port: drainedPort } = await start({});
    reachedFastify = [];
    const inFlight = rawExchange(drainedPort, "GET /.well-known/jwks.json HTTP/1.1\r\nHost: gateway.test\r\nX-Request-Id: in-flight-0001\r\nX-Slow: 1\r\n\r\n");
    await waitFor(() => paths.includes("GET /.well-known/jwks.json"));
    const drained = drain(gateway.app, 5_000).then(() => gateway.app.close());
    const answer = await inFlight;
    expect(answer).toMatch(/^HTTP\/1\.1 200 [^]*\r\nconnection: close\r\n[^]*\{"ok":true\}$/i);
    expect(reachedFastify).toEqual([]);
    await expect(rawExchange(drainedPort, "GET /.well-known/jwks.json HTTP/1.1\r\nHost: gateway.test\r\n\r\n")).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await drained;
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5_000) throw new Error("condition not met within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
