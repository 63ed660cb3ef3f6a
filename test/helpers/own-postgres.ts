import { execFileSync } from "node:child_process";
import { appendFile, chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A free TCP port on loopback, for a server the test starts itself. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface OwnPostgres {
  /** Everything of this cluster lives here: data, socket, logs (owned by postgres). */
  root: string;
  dataDir: string;
  port: number;
  url(database?: string): string;
  /** Runs a command as the postgres user (pgBackRest refuses files it does not own). */
  asPostgres(command: string, args: string[], env?: Record<string, string>): string;
  appendConf(lines: string[]): Promise<void>;
  restart(): void;
  stop(): Promise<void>;
}

const bin = (tool: string) => {
  const major = execFileSync("sh", ["-c", "ls /usr/lib/postgresql | sort -n | tail -1"], { encoding: "utf8" }).trim();
  return `/usr/lib/postgresql/${major}/bin/${tool}`;
};

/**
 * A PostgreSQL cluster of the test's own: initdb as postgres in a temporary directory, on a free port,
 * socket in that directory. The machine's PostgreSQL is never touched.
 */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const root = await mkdtemp(join(tmpdir(), "azora-pg-"));
  const ids = execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim();
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  await chown(root, Number(ids), gid);
  await chmod(root, 0o700);
  const dataDir = join(root, "data");
  const port = await freePort();
  const asPostgres = (command: string, args: string[], env: Record<string, string> = {}) =>
    execFileSync("runuser", ["-u", "postgres", "--", "env", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), command, ...args], { encoding: "utf8", cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  asPostgres(bin("initdb"), ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
  const cluster: OwnPostgres = {
    root,
    dataDir,
    port,
    url: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    asPostgres,
    appendConf: (lines) => appendFile(join(dataDir, "postgresql.conf"), `\n${lines.join("\n")}\n`),
    restart: () => void asPostgres(bin("pg_ctl"), ["restart", "-D", dataDir, "-w", "-t", "120", "-m", "fast", "-l", join(root, "server.log")]),
    async stop() {
      try {
        asPostgres(bin("pg_ctl"), ["stop", "-D", dataDir, "-m", "immediate", "-w"]);
      } catch {
        // Already stopped.
      }
      await rm(root, { recursive: true, force: true });
    },
  };
  await cluster.appendConf([`port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${root}'`, "fsync = off"]);
  asPostgres(bin("pg_ctl"), ["start", "-D", dataDir, "-w", "-t", "120", "-l", join(root, "server.log")]);
  return cluster;
}
