import type { Server } from "node:http";
import type { ServingRole } from "./serve.ts";

/**
 * Serves a bare `node:http` server on an ephemeral loopback port, with keep-alive longer than the gaps
 * between runs (so a proxy's upstream connections survive them); stopping drops every connection.
 */
export async function serveOnLoopback(server: Server, what: string, onStop?: () => Promise<void>): Promise<ServingRole> {
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error(`${what} has no TCP address`);
  return {
    info: { url: `http://127.0.0.1:${address.port}`, port: address.port },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await onStop?.();
    },
  };
}
