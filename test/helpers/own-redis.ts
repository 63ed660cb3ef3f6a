import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { eventually, freePort } from "./free-port.ts";

/**
 * A redis-server of the test's own, on a free port, so faults (stop, freeze) never touch the machine's
 * shared Redis. Persistence is on (append-only file, fsync always): a restart brings the old keys back,
 * as a production Redis with persistence does.
 */
export async function startOwnRedis(options: { port?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "azora-redis-"));
  const port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;

  const start = async () => {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always"], {
      stdio: "ignore",
    });
    await eventually(async () => ((await ping()) ? true : undefined), `redis-server on port ${port}`);
  };
  const ping = async () => {
    const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 500, retryStrategy: () => null });
    client.on("error", () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === "PONG";
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  };
  const stop = async () => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    running.kill("SIGCONT");
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGTERM");
    await exited;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    /** Its data directory (the append-only file): a test may put an older copy back while it is stopped. */
    dir,
    start,
    stop,
    /** SIGSTOP: the port still accepts connections, but nothing answers. */
    freeze: () => void child?.kill("SIGSTOP"),
    thaw: () => void child?.kill("SIGCONT"),
    async dispose() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type OwnRedis = Awaited<ReturnType<typeof startOwnRedis>>;
