import { spawn } from "node:child_process";
import type { Readable } from "node:stream";

/** A failure of a PostgreSQL client tool, with the part of its output an operator needs. */
export class ToolError extends Error {}

/** Connection settings for libpq tools as environment variables: the password never appears in argv (ps). */
export function libpqEnv(databaseUrl: string, database?: string): NodeJS.ProcessEnv {
  const url = new URL(databaseUrl);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C.UTF-8" };
  if (url.hostname) env.PGHOST = decodeURIComponent(url.hostname);
  if (url.port) env.PGPORT = url.port;
  if (url.username) env.PGUSER = decodeURIComponent(url.username);
  if (url.password) env.PGPASSWORD = decodeURIComponent(url.password);
  env.PGDATABASE = database ?? decodeURIComponent(url.pathname.replace(/^\//, ""));
  const sslmode = url.searchParams.get("sslmode");
  if (sslmode) env.PGSSLMODE = sslmode;
  const host = url.searchParams.get("host");
  if (host) env.PGHOST = host;
  return env;
}

/**
 * A small sh between this process and a tool that must not outlive it (a load into a scratch database): the
 * tool runs in the background, and a watcher reads the sh's standard input, a pipe whose other end only this
 * process holds, until it ends. The kernel closes that end when this process dies, SIGKILL included, and the
 * watcher then stops the tool (SIGTERM). An aborted run ends that pipe the same way (not a signal to the sh,
 * which could arrive before its trap is set and leave the tool running); a SIGTERM or SIGINT to the sh (Ctrl-C)
 * is passed on to the tool. The sh exits with the tool's status (128 + the signal's number when a signal ended it).
 */
const TIED_TO_PARENT = [
  "exec 3<&0 </dev/null",
  '"$@" 3<&- &',
  "tool=$!",
  'trap \'kill -TERM "$tool" 2>/dev/null\' TERM INT',
  '{ while read -r line <&3; do :; done; kill -TERM "$tool" 2>/dev/null; } &',
  "watcher=$!",
  // wait returns early when a trapped signal arrives: wait again until the tool itself has ended.
  'while :; do wait "$tool"; status=$?; kill -0 "$tool" 2>/dev/null || break; done',
  'kill "$watcher" 2>/dev/null',
  // Reaped here: left to a PID 1 that reaps no one (node in the container) it would stay a zombie.
  'wait "$watcher" 2>/dev/null',
  'exit "$status"',
].join("\n");

const notInstalled = (command: string) => new ToolError(`${command} is not installed: install the PostgreSQL client tools (apt-get install postgresql-client)`);

/**
 * Runs a client tool to completion; a non-zero exit is a ToolError carrying the last lines of stderr.
 * An aborted signal stops the tool (SIGTERM) and fails the run. `tiedToParent`: the tool is stopped
 * when this process dies, however it dies (see TIED_TO_PARENT).
 */
export function runTool(command: string, args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal, options: { tiedToParent?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = options.tiedToParent
      ? spawn("sh", ["-c", TIED_TO_PARENT, "sh", command, ...args], { env, stdio: ["pipe", "pipe", "pipe"] })
      : spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"], signal });
    // Never written to: its end (this process gone, or the run aborted) is the watcher's sign to stop the tool.
    child.stdin?.on("error", () => undefined);
    if (options.tiedToParent && signal) {
      const stopTool = () => child.stdin?.destroy();
      if (signal.aborted) stopTool();
      else signal.addEventListener("abort", stopTool, { once: true });
      child.on("close", () => signal.removeEventListener("abort", stopTool));
    }
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err = (err + chunk.toString()).slice(-4000)));
    child.on("error", (error: NodeJS.ErrnoException) => reject(error.code === "ENOENT" ? notInstalled(command) : new ToolError(error.message)));
    child.on("close", (code, signal) => {
      if (code === 0) resolve(out);
      else if (options.tiedToParent && code === 127 && /not found/.test(err)) reject(notInstalled(command));
      else reject(new ToolError(`${command} failed (${signal ?? `exit ${code}`}): ${err.trim().split("\n").slice(-5).join(" | ")}`));
    });
  });
}

/**
 * Runs a client tool whose standard output is the product (pg_dump to stdout): the caller consumes the stream
 * while the tool writes it, and done settles when both are over; a non-zero exit is a ToolError as in runTool.
 */
export async function streamTool<T>(command: string, args: string[], env: NodeJS.ProcessEnv, consume: (stdout: Readable) => Promise<T>): Promise<T> {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (chunk: Buffer) => (err = (err + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", (error: NodeJS.ErrnoException) => reject(error.code === "ENOENT" ? notInstalled(command) : new ToolError(error.message)));
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new ToolError(`${command} failed (${signal ?? `exit ${code}`}): ${err.trim().split("\n").slice(-5).join(" | ")}`));
    });
  });
  let consumerFailed = false;
  // A consumer that fails (disk full) must not leave the tool writing into a pipe nobody reads.
  const consumed = consume(child.stdout).catch((error: unknown) => {
    consumerFailed = true;
    child.kill("SIGTERM");
    throw error;
  });
  const [exit, result] = await Promise.allSettled([exited, consumed]);
  // The tool's own failure explains a cut stream better than the stream does; a tool we stopped does not.
  if (exit.status === "rejected" && !consumerFailed) throw exit.reason;
  if (result.status === "rejected") throw result.reason;
  if (exit.status === "rejected") throw exit.reason;
  return result.value;
}

/** The major version of a client tool (pg_dump 15.4 → 15). */
export async function toolMajor(command: string): Promise<number> {
  const text = await runTool(command, ["--version"], { PATH: process.env.PATH });
  const match = /\b(\d+)(?:\.\d+)?/.exec(text);
  if (!match) throw new ToolError(`cannot read the version of ${command} from "${text.trim()}"`);
  return Number(match[1]);
}

/**
 * pg_dump and pg_restore refuse, or silently miss features, when older than the server:
 * say which client to install instead of failing halfway.
 */
export async function requireClientNotOlder(command: string, serverVersionNum: number): Promise<void> {
  const serverMajor = Math.floor(serverVersionNum / 10_000);
  const clientMajor = await toolMajor(command);
  if (clientMajor < serverMajor) {
    throw new ToolError(`${command} ${clientMajor} is older than the PostgreSQL server (${serverMajor}): install postgresql-client-${serverMajor} and run again`);
  }
}

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
