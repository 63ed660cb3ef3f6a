import pg from "pg";
import type { Db, Queryable } from "./db.ts";

/** PostgreSQL through a pool (production and the PostgreSQL test run). */
export async function openPostgres(url: string, poolMax: number): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: poolMax, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 });
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on("error", () => undefined);
  let count = 0;
  const wrap = (client: Pick<pg.Pool, "query">): Queryable => ({
    query: async <Row>(sql: string, params: unknown[] = []) => {
      count++;
      const result = await client.query(sql, params);
      return result.rows as Row[];
    },
  });
  const outer = wrap(pool);
  await outer.query("SELECT 1");

  return {
    kind: "postgres",
    query: outer.query,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(wrap(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    exec: async (sql) => {
      count++;
      await pool.query(sql);
    },
    activeConnections: () => pool.totalCount - pool.idleCount,
    queryCount: () => count,
    close: () => pool.end(),
  };
}
