import { createServer, type ServerResponse } from "node:http";
import { Pool, util as undiciUtil, type Dispatcher } from "undici";
import { serveOnLoopback } from "./loopback-server.ts";
import type { ServingRole } from "./serve.ts";

/**
 * The least a Node proxy can do: `node:http` in, an undici keep-alive pool out through `pool.dispatch` with a
 * handler that collects the answer, which is then sent whole in one write. No routing, no token, no metrics,
 * no log, no header hygiene. It is the ceiling for any proxy written in Node on this machine, so the
 * gateway's cost can be told apart from Node's own. It uses the same undici primitive as the gateway
 * (docs/adr/0510): `dispatch`, not `request()`, whose AsyncResource, abort listener and body stream per
 * exchange would make the baseline slower than the client path the gateway takes, and the ratio unfair.
 */
export async function startNodeProxy(echoUrl: string): Promise<ServingRole> {
  const pool = new Pool(echoUrl, { connections: 256, keepAliveTimeout: 65_000 });
  const server = createServer((request, response) => {
    request.resume();
    pool.dispatch({ method: "GET", path: request.url ?? "/" }, wholeAnswerTo(response));
  });
  return serveOnLoopback(server, "node proxy", () => pool.close());
}

/** Collects the echo's answer and sends status, headers and body in one write; a 502 when the exchange fails. */
function wholeAnswerTo(response: ServerResponse): Dispatcher.DispatchHandler {
  let status = 0;
  let headers: Record<string, string | string[] | undefined> = {};
  const chunks: Buffer[] = [];
  return {
    onConnect() {},
    onHeaders(statusCode, rawHeaders) {
      status = statusCode;
      headers = undiciUtil.parseHeaders(rawHeaders);
      return true;
    },
    onData(chunk) {
      chunks.push(chunk);
      return true;
    },
    onComplete() {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      response.writeHead(status, {
        "content-type": String(headers["content-type"]),
        "content-length": body.length,
        "x-bench-echo": String(headers["x-bench-echo"]),
      });
      response.end(body);
    },
    onError() {
      if (response.headersSent) response.destroy();
      else {
        response.writeHead(502);
        response.end();
      }
    },
  };
}
