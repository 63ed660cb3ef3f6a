import { AppError } from "../errors.ts";

/** Seconds a client is asked to wait before retrying while the database is unreachable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** Network failures and PostgreSQL's "cannot serve now" states: the database, not the statement, is the problem. */
const connectionErrorCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, shutting down, in recovery)
  "53300", // too_many_connections
]);
// "Query read timeout": a server that stopped answering on an open connection (DB_QUERY_TIMEOUT_MS).
const connectionErrorMessages = /Connection terminated|timeout exceeded when trying to connect|Connection is closed|PGlite is closed|Client has encountered a connection error|Query read timeout/i;

/** The database cannot be reached right now: a 503 with Retry-After, never a 500. */
export class DatabaseUnavailableError extends AppError {
  constructor(cause: unknown) {
    super("database_unavailable", "The database is unavailable right now. Try again shortly.", {
      headers: { "retry-after": String(DATABASE_RETRY_AFTER_SECONDS) },
    });
    this.cause = cause;
  }
}

/** True for errors that say the database is unreachable (as opposed to a bad statement or a constraint). */
export function isConnectionFailure(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && (connectionErrorCodes.has(code) || code.startsWith("08"))) return true;
  return error instanceof Error && connectionErrorMessages.test(error.message);
}

/** Rethrows connection failures as DatabaseUnavailableError; everything else as it is. */
export function asDatabaseError(error: unknown): never {
  throw isConnectionFailure(error) && !(error instanceof DatabaseUnavailableError) ? new DatabaseUnavailableError(error) : error;
}
