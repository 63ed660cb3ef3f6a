import pg from "pg";
import type { Db, Queryable } from "./db.ts";
import { withoutValues } from "./query-error.ts";
import { asDatabaseError, isConnectionFailure } from "./unavailable.ts";

/**
 * PostgreSQL through a pool (production and the PostgreSQL test run). A database that cannot be reached
 * fails the statement with DatabaseUnavailableError (503 + Retry-After); the pool reconnects by itself.
 * `queryTimeoutMs` (serving processes) bounds how long a statement waits for a server that froze or went
 * away without closing the connection: the statement fails the same way and its connection is discarded.
 */
export async function openPostgres(url: string, poolMax: number, options: { queryTimeoutMs?: number } = {}): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolMax,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
  });
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on("error", () => undefined);
  let count = 0;
  const wrap = (client: Pick<pg.Pool, "query">, counted = true): Queryable => ({
    query: async <Row>(sql: string, params: unknown[] = []) => {
      if (counted) count++;
      const result = await withoutValues(sql, () => client.query(sql, params)).catch(asDatabaseError);
      return result.rows as Row[];
    },
  });
  const outer = wrap(pool);
  await outer.query("SELECT 1");

  return {
    kind: "postgres",
    query: outer.query,
    background: wrap(pool, false),
    async transaction(fn) {
      const client = await pool.connect().catch(asDatabaseError);
      let broken = false;
      try {
        await client.query("BEGIN");
        const result = await fn(wrap(client));
        await withoutValues("COMMIT", () => client.query("COMMIT"));
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        // A connection that lost its server goes back to the pool destroyed, not reused.
        broken = isConnectionFailure(error);
        return asDatabaseError(error);
      } finally {
        client.release(broken);
      }
    },
    exec: async (sql) => {
      count++;
      await withoutValues(sql, () => pool.query(sql)).catch(asDatabaseError);
    },
    activeConnections: () => pool.totalCount - pool.idleCount,
    maxConnections: () => poolMax,
    queryCount: () => count,
    close: () => pool.end(),
  };
}
