/** What every repository sees of the database, whichever engine is behind it. */
export interface Queryable {
  /** Runs one statement with $1… parameters and returns its rows. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
}

export interface Db extends Queryable {
  readonly kind: "pglite" | "postgres";
  /** Runs fn inside one transaction; a throw rolls it back. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Statements of background housekeeping (cache invalidation replay): not counted in queryCount. */
  readonly background: Queryable;
  /** Runs a script of several statements (migrations). */
  exec(sql: string): Promise<void>;
  /** Connections in use right now (the database_connections_active gauge). */
  activeConnections(): number;
  /** The most connections this process may hold (the database_connections_max gauge: alerts divide by it). */
  maxConnections(): number;
  /** Statements run since start (lets tests prove a cache hit made no query). */
  queryCount(): number;
  close(): Promise<void>;
}
