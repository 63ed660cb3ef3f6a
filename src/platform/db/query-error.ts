/**
 * A statement the database refused, as it may be logged: the statement's text (with its $1… placeholders),
 * the SQLSTATE code and the names of the objects involved, never the values. The driver's own error
 * carries the parameters (PGlite) and a detail line that quotes them (`Key (email)=(jane@…) already
 * exists`): the user's content in clear, so neither is kept, not even as `cause`.
 */
export class QueryError extends Error {
  /** The SQLSTATE (`23505`, `53100`, …): callers branch on it as on the driver's error. */
  readonly code: string;
  readonly statement: string;
  readonly table: string | undefined;
  readonly column: string | undefined;
  readonly constraint: string | undefined;

  constructor(source: DriverError, statement: string) {
    super(messageWithoutValues(source));
    this.name = "QueryError";
    this.code = source.code ?? "";
    this.statement = statement.length > 2_000 ? `${statement.slice(0, 2_000)}…` : statement;
    this.table = source.table;
    this.column = source.column;
    this.constraint = source.constraint;
  }
}

interface DriverError {
  message: string;
  code?: string;
  severity?: string;
  table?: string;
  column?: string;
  constraint?: string;
}

/** An error reported by the database server (it has a SQLSTATE and a severity), as opposed to a network failure. */
function isDriverError(error: unknown): error is DriverError {
  if (!(error instanceof Error)) return false;
  const { code, severity } = error as DriverError;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && typeof severity === "string";
}

/**
 * Data exceptions (class 22) quote the offending value after a colon (`invalid input syntax for type uuid:
 * "…"`): the condition is kept, the value is not. Other messages name objects, not values.
 */
function messageWithoutValues(error: DriverError): string {
  if (error.code?.startsWith("22")) {
    const colon = error.message.indexOf(":");
    return colon === -1 ? error.message : error.message.slice(0, colon);
  }
  return error.message;
}

/** Runs one database call; an error the database reported comes back as a QueryError, anything else as it is. */
export async function withoutValues<T>(statement: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw isDriverError(error) ? new QueryError(error, statement) : error;
  }
}
