import { createServer } from "node:http";
import { serveOnLoopback } from "./loopback-server.ts";
import type { ServingRole } from "./serve.ts";

/** What every proxied benchmark request finally gets: a small JSON body, the size of a user profile. */
export const echoBody = JSON.stringify({
  id: "00000000-0000-4000-8000-000000000000",
  email: "bench@example.com",
  name: "Bench User",
  role: "user",
  createdAt: "2025-01-01T00:00:00.000Z",
});

/** A bare Node `http` server: the baseline, and the upstream behind nginx and the gateway. */
export async function startEcho(): Promise<ServingRole> {
  const length = String(Buffer.byteLength(echoBody));
  const server = createServer((request, response) => {
    request.resume();
    response.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": length, "x-bench-echo": "1" });
    response.end(echoBody);
  });
  return serveOnLoopback(server, "echo server");
}
