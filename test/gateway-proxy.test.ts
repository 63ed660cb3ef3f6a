import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createActiveUsers } from "../src/platform/active-users.ts";
import { createMemoryCache } from "../src/platform/cache/memory.ts";
import { systemClock } from "../src/platform/clock.ts";
import { listen } from "../src/platform/http.ts";
import { createLogs, type Logs } from "../src/platform/logger.ts";
import { createMetrics } from "../src/platform/metrics.ts";
import { createGatewayApp } from "../src/services/gateway/gateway.app.ts";
import { testConfig } from "./helpers/platform.ts";

/**
 * The gateway's proxying, against a real upstream HTTP server that answers in every way a service may:
 * small bodies (sent as one buffer), large and unsized ones (streamed), no body, and a connection that
 * dies halfway through a body. The public auth routes need no token, so the upstream stands in for auth.
 */
describe("gateway proxying", () => {
  const large = "x".repeat(300 * 1024);
  let seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];
  let endlessClosed = false;
  let upstream: Server;
  const gateways: ReturnType<typeof createGatewayApp>[] = [];
  const registries: Registry[] = [];
  let logs: Logs;
  let logDir: string;
  let baseUrl: string;
  /** A second gateway that trusts 127.0.0.1 as a proxy in front of it (TRUSTED_PROXIES). */
  let behindTrustedProxyUrl: string;

  beforeAll(async () => {
    upstream = createServer((request, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => (body += chunk));
      request.on("end", () => {
        seen.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
        const kind = (request.headers["x-answer"] as string | undefined) ?? "small";
        if (kind === "small") {
          // Sized, as the services (Fastify) answer: this is the answer the gateway reads whole.
          const json = JSON.stringify({ echoed: body });
          response.writeHead(201, { "content-type": "application/json", "content-length": Buffer.byteLength(json), "x-service": "auth", connection: "keep-alive" });
          response.end(json);
        } else if (kind === "large") {
          response.writeHead(200, { "content-type": "text/plain", "content-length": String(large.length) });
          response.end(large);
        } else if (kind === "chunked") {
          response.writeHead(200, { "content-type": "text/plain" });
          response.write("first,");
          setTimeout(() => response.end("second"), 20);
        } else if (kind === "endless") {
          // Streams until its reader goes away: only the gateway cutting the exchange ends it.
          response.writeHead(200, { "content-type": "text/plain" });
          const timer = setInterval(() => response.write("x".repeat(1024)), 5);
          response.on("close", () => {
            clearInterval(timer);
            endlessClosed = true;
          });
        } else if (kind === "empty") {
          response.writeHead(204);
          response.end();
        } else {
          // Promises a body, sends half of it, then drops the connection.
          response.writeHead(200, { "content-type": "application/json", "content-length": "100" });
          response.write('{"partial":');
          setTimeout(() => response.socket?.destroy(), 20);
        }
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", () => resolve()));
    const address = upstream.address();
    if (address === null || typeof address === "string") throw new Error("no upstream address");
    const upstreamUrl = `http://127.0.0.1:${address.port}`;

    logDir = await mkdtemp(join(tmpdir(), "azora-gateway-"));
    logs = createLogs({ dir: logDir, level: "info", stdout: false });
    const startGateway = async (env: Record<string, string>) => {
      const metrics = createMetrics({ service: "gateway", version: "test", sources: { activeConnections: () => 0, maxConnections: () => 1, queryCount: () => 0, activeUsers: async () => 0, logWriteErrors: () => logs.writeErrors() } });
      const started = createGatewayApp({
        config: testConfig({ DATA_DIR: logDir, ...env }),
        logger: logs.api,
        metrics,
        activeUsers: createActiveUsers(createMemoryCache(), systemClock),
        upstreams: { auth: upstreamUrl, users: upstreamUrl },
      });
      gateways.push(started);
      registries.push(metrics.registry);
      return `http://127.0.0.1:${await listen(started.app, "127.0.0.1", 0)}`;
    };
    baseUrl = await startGateway({});
    behindTrustedProxyUrl = await startGateway({ TRUSTED_PROXIES: "127.0.0.1" });
  });

  afterAll(async () => {
    for (const gateway of gateways) {
      await gateway.app.close();
      await gateway.close();
    }
    await new Promise((resolve) => upstream?.close(resolve));
    logs?.close();
    await rm(logDir, { recursive: true, force: true });
  });

  const post = (answer: string, init: RequestInit = {}, gatewayUrl = baseUrl) =>
    fetch(`${gatewayUrl}/api/auth/register`, {
      method: "POST",
      ...init,
      headers: { "content-type": "application/json", "x-answer": answer, ...(init.headers as Record<string, string>) },
      body: init.body ?? JSON.stringify({ hello: "wörld" }),
    });

  it("passes a small answer through whole: status, headers, body, but no hop-by-hop headers", async () => {
    seen = [];
    const response = await post("small", { headers: { "x-request-id": "test-request-0001" } });
    expect(response.status).toBe(201);
    expect(response.headers.get("x-service")).toBe("auth");
    expect(response.headers.get("x-request-id")).toBe("test-request-0001");
    expect(await response.json()).toEqual({ echoed: JSON.stringify({ hello: "wörld" }) });
    const [request] = seen;
    expect(request?.headers["x-request-id"]).toBe("test-request-0001");
    expect(request?.headers["x-forwarded-for"]).toBe("127.0.0.1");
  });

  it("drops identity headers a client made up, and X-Forwarded-* headers other than the hop list", async () => {
    seen = [];
    await post("small", { headers: { "x-user-id": "someone", "x-forwarded-user": "someone", "x-forwarded-host": "evil.example" } });
    const headers = seen[0]?.headers ?? {};
    expect(headers["x-user-id"]).toBeUndefined();
    expect(headers["x-forwarded-user"]).toBeUndefined();
    expect(headers["x-forwarded-host"]).toBeUndefined();
  });

  it("passes on only the X-Forwarded-For hops it can vouch for", async () => {
    seen = [];
    // Nobody is trusted in front of this gateway: what the client wrote is dropped.
    await post("small", { headers: { "x-forwarded-for": "198.51.100.9" } });
    // Behind a trusted proxy the chain is kept up to the first hop no trusted proxy vouches for.
    await post("small", { headers: { "x-forwarded-for": "198.51.100.9, 203.0.113.7" } }, behindTrustedProxyUrl);
    expect(seen.map((request) => request.headers["x-forwarded-for"])).toEqual(["127.0.0.1", "203.0.113.7, 127.0.0.1"]);
  });

  it("streams an answer larger than the buffering limit, byte for byte", async () => {
    const response = await post("large");
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.length).toBe(large.length);
    expect(text).toBe(large);
  });

  it("streams an answer without a Content-Length", async () => {
    const response = await post("chunked");
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("first,second");
  });

  it("cuts the exchange with the service when the client goes away in the middle of a streamed answer", async () => {
    endlessClosed = false;
    await new Promise<void>((resolve, reject) => {
      const client = httpRequest(`${baseUrl}/api/auth/register`, { method: "POST", headers: { "content-type": "application/json", "x-answer": "endless" } }, (response) => {
        response.once("data", () => {
          // One chunk arrived through the gateway: the client leaves.
          client.destroy();
          resolve();
        });
      });
      client.on("error", (error) => (endlessClosed ? undefined : reject(error)));
      client.end(JSON.stringify({ hello: "stream" }));
    });
    for (let waited = 0; waited < 5_000 && !endlessClosed; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(endlessClosed).toBe(true);
  });

  it("passes an answer without a body", async () => {
    const response = await post("empty");
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
  });

  it("writes one access line per request: the route template, the request id, each key once", async () => {
    await post("small", { headers: { "x-request-id": "access-line-0001" } });
    const file = join(logDir, "api.log");
    let line: string | undefined;
    // api.log is buffered and flushed at least every second.
    for (let waited = 0; waited < 5_000 && line === undefined; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      line = (await readFile(file, "utf8").catch(() => "")).split("\n").find((text) => text.includes("access-line-0001"));
    }
    expect(line).toBeDefined();
    expect(JSON.parse(line ?? "")).toMatchObject({ event: "http_request", service: "gateway", route: "/api/auth/register", status: 201, method: "POST" });
    expect(line?.match(/"service":/g)).toHaveLength(1);
  });

  it("answers HEAD with the headers of GET, Content-Length included, and no body", async () => {
    const get = await fetch(`${baseUrl}/.well-known/jwks.json`, { headers: { "x-answer": "small" } });
    const head = await fetch(`${baseUrl}/.well-known/jwks.json`, { method: "HEAD", headers: { "x-answer": "small" } });
    const length = Number(get.headers.get("content-length"));
    expect(length).toBeGreaterThan(0);
    expect(length).toBe((await get.arrayBuffer()).byteLength);
    expect(head.status).toBe(201);
    expect(Number(head.headers.get("content-length"))).toBe(length);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it("answers 502 in the error shape when the service drops the connection in the middle of a body", async () => {
    const response = await post("broken");
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: { code: "bad_gateway" } });
    const counted = await registries[0]?.getSingleMetricAsString("azora_upstream_errors_total");
    expect(counted).toContain('azora_upstream_errors_total{upstream="auth",reason="incomplete",service="gateway"} 1');
    // And the gateway keeps serving.
    expect((await post("small")).status).toBe(201);
  });
});
