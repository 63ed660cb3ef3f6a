import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { makeDataDir } from "./platform.ts";
import { spawnCli, type RunningCli } from "./cli.ts";

/** `azora up` as a real child process, started the way an operator or a supervisor starts it. */
export interface ChildPlatform {
  run: RunningCli;
  /** The PID that was started (npm's, for `npm start`): the one a supervisor signals. */
  pid: number;
  baseUrl: string;
  opsUrl: string;
  dataDir: string;
  /** Every process of the tree seen at start (npm, node…), for the checks and the clean-up. */
  tree: number[];
  /** Waits for the exit; kills whatever of the tree is still alive afterwards (an orphan), and removes the data. */
  dispose(): Promise<void>;
}

export interface ChildPlatformOptions {
  /** How it is started: `npm start` (what a Dockerfile CMD or a unit file runs) or `azora up`. */
  via: "npm" | "azora";
  env?: Record<string, string>;
  dataDir?: string;
}

/** Starts the platform on ephemeral ports and waits for its banner. */
export async function startChildPlatform(options: ChildPlatformOptions): Promise<ChildPlatform> {
  const dataDir = options.dataDir ?? (await makeDataDir());
  const env = { PORT: "0", OPS_PORT: "0", HOST: "127.0.0.1", DATA_DIR: dataDir, LOG_STDOUT: "false", BACKUP_SCHEDULE: "off", ...options.env };
  const run = options.via === "npm" ? spawnCli(["start"], env, "npm") : spawnCli(["up"], env);
  const pid = run.child.pid ?? -1;
  try {
    await run.waitFor(/Press Ctrl-C to stop/, 480_000);
  } catch (error) {
    run.child.kill("SIGKILL");
    throw error;
  }
  const output = run.stdout();
  const baseUrl = /API:\s+(http:\/\/\S+)/.exec(output)?.[1] ?? "";
  const opsUrl = /Ops:\s+(http:\/\/\S+)/.exec(output)?.[1] ?? "";
  const tree = processTree(pid);
  return {
    run,
    pid,
    baseUrl,
    opsUrl,
    dataDir,
    tree,
    async dispose() {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGKILL");
      await run.exited;
      for (const member of tree) if (isAlive(member)) process.kill(member, "SIGKILL");
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The PID and all its descendants, read from /proc. */
export function processTree(pid: number): number[] {
  const members = [pid];
  for (let index = 0; index < members.length; index++) {
    const member = members[index] ?? -1;
    try {
      const children = readFileSync(`/proc/${member}/task/${member}/children`, "utf8").trim();
      if (children) members.push(...children.split(/\s+/).map(Number));
    } catch {
      // The process is gone already.
    }
  }
  return members;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls until check() is true or the time is up; returns the last result. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
