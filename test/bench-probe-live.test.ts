import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "./helpers/free-port.ts";

/**
 * bench/probe-live.js, the liveness prober of bench:auth, counts what a kubelet counts against a pod: a probe that
 * gets no answer within 1 s, a refused connection and a status other than 200 are reported as failures, never
 * dropped from the figures, and a server that never answers does not stall the prober.
 */
const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/health/live`;
}

interface ProbeResult {
  times: number[];
  timeouts: number;
  errors: number;
  badStatus: number;
}

describe("bench/probe-live.js", () => {
  it("reports timeouts (1 s deadline), non-200 answers and refused connections per URL beside the answer times", async () => {
    let requests = 0;
    // Never answers its first two requests; then 200, then a 503.
    const flaky = await serve((_request, response) => {
      requests++;
      if (requests <= 2) return;
      response.writeHead(requests === 3 ? 200 : 503).end("{}");
    });
    const refused = await serve(() => undefined);
    servers.pop()!.close();

    const prober = spawn(process.execPath, [join(import.meta.dirname, "../bench/probe-live.js"), flaky, refused], { stdio: ["pipe", "pipe", "inherit"] });
    let output = "";
    prober.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => prober.once("exit", resolve));
    await eventually(async () => requests >= 4 || undefined, "four probes of the flaky server", 30_000);
    prober.stdin.end();
    await exited;

    const report = JSON.parse(output) as { results: Record<string, ProbeResult>; ownEventLoopDelayP99Ms: number };
    const flakyResult = report.results[flaky]!;
    expect(flakyResult.timeouts).toBe(2);
    expect(flakyResult.badStatus).toBeGreaterThanOrEqual(1);
    expect(flakyResult.times).toHaveLength(1);
    const refusedResult = report.results[refused]!;
    expect(refusedResult.errors).toBeGreaterThanOrEqual(3);
    expect(refusedResult.times).toEqual([]);
    expect(report.ownEventLoopDelayP99Ms).toBeGreaterThan(0);
  }, 60_000);
});
