import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { hasTool } from "./tools.ts";
import { eventually, freePort } from "./free-port.ts";

const run = promisify(execFile);

/** Where initdb and pg_ctl live: on PATH, or in Debian's versioned directory (newest first). */
export function postgresBinDir(): string | undefined {
  if (hasTool("initdb") && hasTool("pg_ctl")) return "";
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) if (existsSync(join(root, version, "bin", "initdb"))) return join(root, version, "bin");
  return undefined;
}

/**
 * A PostgreSQL cluster of the test's own (initdb as user postgres into a temp directory, a free port), so
 * faults (stop, restart) never touch the machine's shared PostgreSQL.
 */
export async function startOwnPostgres(binDir: string) {
  const tool = (name: string) => (binDir ? join(binDir, name) : name);
  const dir = await mkdtemp(join(tmpdir(), "azora-pg-"));
  const data = join(dir, "data");
  const port = await freePort();
  const { stdout: ids } = await run("id", ["-u", "postgres"]);
  const { stdout: gids } = await run("id", ["-g", "postgres"]);
  await chown(dir, Number(ids.trim()), Number(gids.trim()));
  const asPostgres = (command: string, args: string[]) => run("runuser", ["-u", "postgres", "--", tool(command), ...args]);

  await asPostgres("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync"]);
  const start = async () => {
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    await asPostgres("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-o", options, "-w", "-t", "120", "start"]);
  };
  const stop = async () => {
    await asPostgres("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "120", "stop"]);
  };
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await eventually(async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.end();
    return true;
  }, "the test's PostgreSQL");

  /** The server and every backend of it, as a frozen host or a network black hole leaves them: no answer, no close. */
  const signalAll = async (signal: "SIGSTOP" | "SIGCONT") => {
    const postmaster = Number((await readFile(join(data, "postmaster.pid"), "utf8")).split("\n")[0]);
    const { stdout: children } = await run("pgrep", ["-P", String(postmaster)]).catch(() => ({ stdout: "" }));
    for (const pid of [postmaster, ...children.split("\n").filter(Boolean).map(Number)]) process.kill(pid, signal);
  };

  return {
    url,
    start,
    stop,
    freeze: () => signalAll("SIGSTOP"),
    thaw: () => signalAll("SIGCONT"),
    async dispose() {
      await stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type OwnPostgres = Awaited<ReturnType<typeof startOwnPostgres>>;
