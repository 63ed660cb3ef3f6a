import type { PlatformContext } from "./context.ts";

/** Where a command writes: the terminal in-process, or a stream relayed from the process that owns the data. */
export interface CommandIO {
  out(text: string): void;
  err(text: string): void;
  /** Progress of a long command; absent where only lines can be shown. */
  progress?(update: ProgressUpdate): void;
  /** Who asked, for the audit log, when the command runs for another process (the ops port sets it). */
  actor?: string;
  /** Aborted when whoever asked has gone (a relayed `audit tail --follow` whose CLI was stopped). */
  signal?: AbortSignal;
}

/** A CLI command that needs the platform (database, cache): it runs wherever the data's owner is. */
export interface PlatformCommand<Args = Record<string, unknown>> {
  name: string;
  /**
   * The command applies the migrations itself (`azora migrate`): it is not pre-migrated, and it may
   * create a new embedded database. Every other command refuses to run where there is no data yet.
   */
  migrates?: boolean;
  /**
   * The command may start a new embedded installation where there is no data yet (`azora restore`: a move
   * to the embedded default on a new machine). The new database is migrated first, like any other.
   */
  createsInstallation?: boolean;
  /**
   * The command reads and writes only the database (the traffic routes, an audit row): it runs without
   * connecting to Redis, which would only delay it (a rollback's switch among them).
   */
  cacheless?: boolean;
  /**
   * The command heeds `io.signal` and ends in a consistent state by itself: run in the CLI's own process,
   * SIGINT and SIGTERM abort that signal instead of ending the process at once (exit 128 + the signal).
   */
  stopsOnSignal?: boolean;
  run(context: PlatformContext, args: Args, io: CommandIO): Promise<number>;
}

/** One line of a relayed command's output stream (NDJSON over the ops port). */
export type CommandFrame = { stream: "out" | "err"; text: string } | { progress: ProgressUpdate } | { exitCode: number };

/** How far a long command has got; a terminal draws a bar, anything else gets a plain line. */
export interface ProgressUpdate {
  done: number;
  total: number;
  label: string;
}

/** Reports progress through io: as a progress frame where the io can draw one, as a plain line otherwise. */
export function reportProgress(io: CommandIO, update: ProgressUpdate): void {
  if (io.progress) io.progress(update);
  else io.err(`[${update.done}/${update.total}] ${update.label}`);
}
