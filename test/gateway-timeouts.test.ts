import { createServer, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
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
import { metricValue } from "./helpers/api.ts";
import { testConfig } from "./helpers/platform.ts";
import { waitUntil } from "./helpers/wait.ts";

/**
 * Deadlines and retries against a real upstream that misbehaves on request: it never answers, or it drops
 * the first connection of a request it has not seen before and answers the second.
 */
describe("gateway timeouts and retries", () => {
  let upstream: Server;
  let gateway: ReturnType<typeof createGatewayApp>;
  let metrics: Metrics;
  let logs: Logs;
  let dir: string;
  let baseUrl: string;
  const attempts = new Map<string, number>();
  const trickleClosed = new Set<string>();

  beforeAll(async () => {
    upstream = createServer((request, response) => {
      const id = String(request.headers["x-test-id"] ?? "");
      const seen = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, seen);
      const behaviour = request.headers["x-answer"];
      if (behaviour === "never") return; // holds the request open and never answers
      if (behaviour === "trickle") {
        // Streams a chunk every 100 ms until the gateway hangs up: only the total deadline can end it.
        response.writeHead(200, { "content-type": "application/octet-stream" });
        const timer = setInterval(() => response.write("x".repeat(1024)), 100);
        response.on("close", () => {
          clearInterval(timer);
          trickleClosed.add(id);
        });
        return;
      }
      if (behaviour === "drop-first" && seen === 1) {
        request.socket.destroy();
        return;
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ attempt: seen }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", () => resolve()));
    const address = upstream.address();
    if (address === null || typeof address === "string") throw new Error("no upstream address");
    const upstreamUrl = `http://127.0.0.1:${address.port}`;
    dir = await mkdtemp(join(tmpdir(), "azora-timeouts-"));
    logs = createLogs({ dir, level: "info", stdout: false });
    metrics = createMetrics({ service: "gateway", version: "test", sources: { activeConnections: () => 0, maxConnections: () => 1, queryCount: () => 0, activeUsers: async () => 0 } });
    gateway = createGatewayApp({
      config: testConfig({ DATA_DIR: dir, UPSTREAM_TOTAL_TIMEOUT_MS: "1000", UPSTREAM_HEADERS_TIMEOUT_MS: "5000" }),
      logger: logs.api,
      metrics,
      activeUsers: createActiveUsers(createMemoryCache(), systemClock),
      upstreams: { auth: upstreamUrl, users: upstreamUrl },
    });
    baseUrl = `http://127.0.0.1:${await listen(gateway.app, "127.0.0.1", 0)}`;
  });
  afterAll(async () => {
    await gateway?.app.close();
    await gateway?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
    logs?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (method: string, path: string, answer: string, id: string) =>
    fetch(`${baseUrl}${path}`, { method, headers: { "x-answer": answer, "x-test-id": id, "content-type": "application/json" }, body: method === "GET" ? null : "{}" });

  it("answers 504 in the error shape when the service holds the request past the total deadline", async () => {
    const response = await call("GET", "/.well-known/jwks.json", "never", "slow");
    expect(response.status).toBe(504);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("gateway_timeout");
    expect(metricValue(await metrics.registry.metrics(), "azora_upstream_errors_total", { upstream: "auth", reason: "timeout" })).toBe(1);
  });

  it("cuts a streamed answer that is still arriving at the total deadline, and hangs up on the service", async () => {
    const response = await call("GET", "/.well-known/jwks.json", "trickle", "trickle-1");
    expect(response.status).toBe(200);
    // The body never ends on its own: reading it fails once the gateway cuts the exchange.
    await expect(response.arrayBuffer()).rejects.toThrow();
    await waitUntil(async () => trickleClosed.has("trickle-1") || undefined, "the service to see the gateway hang up");
  });

  it("retries an idempotent request once its connection drops, but never a POST", async () => {
    const read = await call("GET", "/.well-known/jwks.json", "drop-first", "read-1");
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual({ attempt: 2 });
    expect(metricValue(await metrics.registry.metrics(), "azora_upstream_retries_total", { upstream: "auth" })).toBe(1);

    const write = await call("POST", "/api/auth/register", "drop-first", "write-1");
    expect(write.status).toBe(502);
    expect(attempts.get("write-1")).toBe(1);
    expect(metricValue(await metrics.registry.metrics(), "azora_upstream_retries_total", { upstream: "auth" })).toBe(1);
  });
});
