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
import { createMetrics } from "../src/platform/metrics.ts";
import { createGatewayApp } from "../src/services/gateway/gateway.app.ts";
import { allLogLines } from "./helpers/log-lines.ts";
import { testConfig } from "./helpers/platform.ts";
import { rawHttp } from "./helpers/raw-http.ts";

/**
 * The gateway's access line in api.log, written from its fixed template (docs/adr/0310), for what a client
 * can put in a request: each request is one line of JSON with the fields of the contract, a path that reads
 * back as sent (emails masked, query string never written), and nothing of the query's or headers' secrets.
 */
describe("gateway access line", () => {
  let upstream: Server;
  let gateway: ReturnType<typeof createGatewayApp>;
  let logs: Logs;
  let logDir: string;
  let baseUrl: string;

  beforeAll(async () => {
    upstream = createServer((_request, response) => response.writeHead(201, { "content-type": "application/json" }).end('{"ok":true}'));
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", () => resolve()));
    const address = upstream.address();
    if (address === null || typeof address === "string") throw new Error("no upstream address");
    const upstreamUrl = `http://127.0.0.1:${address.port}`;
    logDir = await mkdtemp(join(tmpdir(), "azora-access-line-"));
    logs = createLogs({ dir: logDir, level: "info", stdout: false });
    const metrics = createMetrics({ service: "gateway", version: "test", sources: { activeConnections: () => 0, maxConnections: () => 1, queryCount: () => 0, activeUsers: async () => 0 } });
    gateway = createGatewayApp({
      config: testConfig({ DATA_DIR: logDir }),
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
    await new Promise((resolve) => upstream?.close(resolve));
    logs?.close();
    await rm(logDir, { recursive: true, force: true });
  });

  /** Sends one raw request (bytes as given) with a request id to find its line by, and returns that line, parsed. */
  const accessLineOf = async (requestId: string, target: Buffer, headers = "") => {
    const head = Buffer.concat([
      Buffer.from("GET "),
      target,
      Buffer.from(` HTTP/1.1\r\nHost: gateway.test\r\nX-Request-Id: ${requestId}\r\n${headers}Connection: close\r\n\r\n`, "latin1"),
    ]);
    const answer = await rawHttp(baseUrl, head);
    logs.flush();
    const lines = (await allLogLines(logDir, "api")).filter((line) => line.includes(requestId));
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? "";
    return { answer, line, parsed: JSON.parse(line) as Record<string, unknown> };
  };

  it("writes the contract's fields, with the query string and the token left out", async () => {
    const { parsed, line } = await accessLineOf(
      "access-line-fields-0001",
      Buffer.from("/.well-known/jwks.json?access_token=query-secret-1&password=query-secret-2"),
      "Authorization: Bearer header-secret-3\r\nCookie: sid=cookie-secret-4\r\n",
    );
    expect(parsed).toMatchObject({ level: "info", log: "api", service: "gateway", event: "http_request", requestId: "access-line-fields-0001", method: "GET", route: "/.well-known/jwks.json", path: "/.well-known/jwks.json", status: 201, ip: "127.0.0.1", msg: "request" });
    expect(typeof parsed.durationMs).toBe("number");
    expect(typeof parsed.time).toBe("string");
    for (const secret of ["query-secret", "header-secret", "cookie-secret", "access_token"]) expect(line).not.toContain(secret);
  });

  it("keeps a hostile path on one line of JSON that reads back as sent, whatever the user agent", async () => {
    const paths = [
      // Refused by the edge (raw backslash) and logged as sent: quotes and backslashes must be escaped.
      Buffer.from('/api/auth/"quoted"\\back\\slash', "latin1"),
      // UTF-8 of é and 🙂, percent-encoded (Node's parser refuses raw bytes beyond ASCII before any route), and quotes.
      Buffer.from(`/api/content/%C3%A9%F0%9F%99%82"'`, "latin1"),
      // Encoded control characters, newline and NUL: refused, logged as sent (still encoded).
      Buffer.from("/api/content/%0A%0D%00%22%5C"),
    ];
    for (const [index, target] of paths.entries()) {
      const requestId = `access-line-hostile-000${index}`;
      const { line, parsed, answer } = await accessLineOf(requestId, target, `User-Agent: "evil" \\ agent ${Buffer.from("ü🙂", "utf8").toString("latin1")}\r\n`);
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(line).not.toMatch(/[\u0000-\u001f\u2028\u2029]/);
      expect(parsed.path).toBe(target.toString("latin1"));
      expect(parsed).toMatchObject({ event: "http_request", requestId, status: answer.status });
      expect(line).not.toContain("agent");
    }
  });

  it("leaves out the credentials of an absolute-form target, which the edge refuses as not a path", async () => {
    const targets = [
      ["http://jane:userinfo-secret-5@gateway.test/api/user/me", "http://[redacted]@gateway.test/api/user/me"],
      ["HTTP://userinfo-secret-6@localhost/x?y=1", "HTTP://[redacted]@localhost/x"],
      ["http://jane:pass?userinfo-secret-7#@localhost/x", "http://[redacted]@localhost/x"],
    ];
    for (const [index, [target = "", logged]] of targets.entries()) {
      const { line, parsed, answer } = await accessLineOf(`access-line-userinfo-000${index}`, Buffer.from(target));
      expect(answer.status).toBe(400);
      expect(line).not.toContain("userinfo-secret");
      expect(line).not.toContain("pass");
      expect(parsed.path).toBe(logged);
    }
  });

  it("masks an email in the path, encoded or not", async () => {
    const plainAt = await accessLineOf("access-line-email-0001", Buffer.from("/api/user/jane.doe@example.com?x=1"));
    const encoded = await accessLineOf("access-line-email-0002", Buffer.from("/api/user/jane.doe%40example.com"));
    expect(plainAt.parsed.path).toBe("/api/user/j***@example.com");
    expect(encoded.parsed.path).toBe("/api/user/j***@example.com");
    expect(plainAt.line + encoded.line).not.toContain("jane.doe");
  });
});
