import type { PlatformContext } from "./context.ts";

/** Where a command writes: the terminal in-process, or a stream relayed from the process that owns the data. */
export interface CommandIO {
  out(text: string): void;
  err(text: string): void;
}

/** A CLI command that needs the platform (database, cache): it runs wherever the data's owner is. */
export interface PlatformCommand<Args = Record<string, unknown>> {
  name: string;
  run(context: PlatformContext, args: Args, io: CommandIO): Promise<number>;
}

/** One line of a relayed command's output stream (NDJSON over the ops port). */
export type CommandFrame = { stream: "out" | "err"; text: string } | { exitCode: number };
