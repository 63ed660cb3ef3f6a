import { hostname, userInfo } from "node:os";
import type { CommandIO } from "../../platform/command.ts";
import type { DeployOptions } from "./engine.ts";

/** Who runs this command, as locks, requests and states name it. */
export const holder = () => `${userInfo().username}@${hostname()} pid ${process.pid}`;

export const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Writes one audit row; a failure to write is reported, never fatal (the outcome it records stands). */
export async function audit(options: Pick<DeployOptions, "audit">, io: CommandIO, entry: { action: string; target: string; details: Record<string, unknown> }) {
  try {
    await options.audit?.(entry);
  } catch (error) {
    io.err(`The audit row ${entry.action} could not be written (${messageOf(error)}); the outcome above stands.`);
  }
}

/** What a waiting `azora rollback` allows on top of the deploy's longest step: the deploy noticing the request and switching back on a loaded machine. */
export const answerMarginSeconds = 120;

/**
 * How long `azora rollback` waits for the running deploy to answer its request: the deploy looks for it
 * between steps, so a step as long as the target's longest (a rollout's --timeout on Kubernetes) plus the
 * switch back.
 */
export const rollbackWaitSeconds = (target: { longestStepSeconds: number }) => target.longestStepSeconds + answerMarginSeconds;

/** The exit code of a command ended by a signal, as shells report it (SIGINT 130, SIGTERM 143). */
export const signalExitCode = (signal: NodeJS.Signals) => 128 + (signal === "SIGINT" ? 2 : 15);

/**
 * Catches SIGINT and SIGTERM while `work` runs: the first calls `onSignal` (the work then ends in a
 * consistent state by itself), later ones are reported with `again` and otherwise ignored. Without it,
 * Node would exit at once, leaving the lock, the traffic and the new processes as they were.
 */
export async function withSignals<T>(onSignal: (signal: NodeJS.Signals) => void, again: (signal: NodeJS.Signals) => void, work: () => Promise<T>): Promise<T> {
  let seen = false;
  const handler = (signal: NodeJS.Signals) => {
    if (seen) return again(signal);
    seen = true;
    onSignal(signal);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  try {
    return await work();
  } finally {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  }
}
