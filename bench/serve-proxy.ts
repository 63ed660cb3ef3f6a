import { createServer } from "node:http";
import { Pool } from "undici";
import { serveOnLoopback } from "./loopback-server.ts";
import type { ServingRole } from "./serve.ts";

/**
 * The least a Node proxy can do: `node:http` in, an undici keep-alive pool out, the answer read whole and
 * sent in one write. No routing, no token, no metrics, no log, no header hygiene. It is the ceiling for any
 * proxy written in Node on this machine, so the gateway's cost can be told apart from Node's own.
 */
export async function startNodeProxy(echoUrl: string): Promise<ServingRole> {
  const pool = new Pool(echoUrl, { connections: 256, keepAliveTimeout: 65_000 });
  const server = createServer((request, response) => {
    request.resume();
    pool.request({ method: "GET", path: request.url ?? "/" }).then(
      async (upstream) => {
        const body = Buffer.from(await upstream.body.arrayBuffer());
        response.writeHead(upstream.statusCode, {
          "content-type": String(upstream.headers["content-type"]),
          "content-length": body.length,
          "x-bench-echo": String(upstream.headers["x-bench-echo"]),
        });
        response.end(body);
      },
      () => {
        response.writeHead(502);
        response.end();
      },
    );
  });
  return serveOnLoopback(server, "node proxy", () => pool.close());
}
