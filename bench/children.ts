import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createInterface } from "node:readline";

/** Every process the benchmark starts, so that every exit path can stop them. */
const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** True when `name` is on PATH (names are fixed strings of this script, never user input). */
export function commandExists(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/** True when a process may be pinned to `cpus` (taskset fails on a core the machine does not have). */
export function canPin(cpus: string): boolean {
  return spawnSync("taskset", ["-c", cpus, "true"], { stdio: "ignore" }).status === 0;
}

/** Starts a command pinned to `cpus` with taskset, and tracks it. */
export function spawnPinned(cpus: string, command: string, args: string[], options: SpawnOptions): ChildProcess {
  return track(spawn("taskset", ["-c", cpus, command, ...args], options));
}

/** Waits for the first stdout line that parses as a JSON object; rejects when the child dies or the time is up. */
export function firstJsonLine(child: ChildProcess, label: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    if (!child.stdout) return reject(new Error(`${label}: no stdout pipe`));
    const lines = createInterface({ input: child.stdout });
    let settled = false;
    const finish = (error: Error | undefined, value?: Record<string, unknown>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.off("exit", onExit);
      if (error) reject(error);
      else resolve(value ?? {});
    };
    const timer = setTimeout(() => finish(new Error(`${label} did not report ready within ${timeoutMs / 1000} s`)), timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(new Error(`${label} exited before it was ready (code ${code}, signal ${signal})`));
    child.once("exit", onExit);
    // Lines after the first are read and dropped, so a chatty child never blocks on a full pipe.
    lines.on("line", (line) => {
      if (settled || !line.startsWith("{")) return;
      try {
        finish(undefined, JSON.parse(line) as Record<string, unknown>);
      } catch {
        // Not our line.
      }
    });
  });
}

/** Stops one child: `signal` first, SIGKILL once the grace period is over. */
export async function stopChild(child: ChildProcess, graceMs = 5_000, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), graceMs)));
  if ((await Promise.race([exited, grace])) === "late") {
    child.kill("SIGKILL");
    await exited;
  }
  clearTimeout(timer);
}

/** Stops every tracked child, newest first. */
export async function stopAll(graceMs = 5_000): Promise<void> {
  for (const child of [...children].reverse()) await stopChild(child, graceMs).catch(() => undefined);
}

/** Last resort on process exit: whatever still runs gets SIGKILL. */
export function killAllNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

/**
 * On Ctrl-C or SIGTERM: says what is being stopped, runs `cleanup` once, then exits with the shell's code for
 * that signal (128 + its number: 130 for SIGINT, 143 for SIGTERM), so a caller can tell a stop from a failure.
 */
export function exitAfterCleanupOnSignals(bench: string, stopping: string, cleanup: () => Promise<void>): void {
  for (const [signal, exitCode] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${bench}: ${signal}, ${stopping}\n`);
      void cleanup().finally(() => process.exit(exitCode));
    });
  }
}

export { freePort } from "../test/helpers/free-port.ts";

/** Polls `url` until it answers 200, or fails after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs: number, isAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`the process behind ${url} exited`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s (${last})`);
}
