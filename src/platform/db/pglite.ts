import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import type { Db, Queryable } from "./db.ts";

/** The embedded default: Postgres compiled to WASM, one connection, data in DATA_DIR/pg. */
export async function openPglite(dir: string): Promise<Db> {
  await mkdir(dir, { recursive: true });
  const pg = await PGlite.create(dir);
  let inFlight = 0;
  let count = 0;

  const track = async <T>(work: () => Promise<T>): Promise<T> => {
    inFlight++;
    count++;
    try {
      return await work();
    } finally {
      inFlight--;
    }
  };
  const wrap = (target: Pick<PGlite, "query">): Queryable => ({
    query: <Row>(sql: string, params: unknown[] = []) => track(async () => (await target.query<Row>(sql, params)).rows),
  });
  const outer = wrap(pg);

  return {
    kind: "pglite",
    query: outer.query,
    transaction: (fn) => track(() => pg.transaction((tx) => fn(wrap(tx)))),
    exec: async (sql) => {
      await track(() => pg.exec(sql));
    },
    // PGlite has exactly one connection: it is in use while any statement runs.
    activeConnections: () => Math.min(inFlight, 1),
    queryCount: () => count,
    close: () => pg.close(),
  };
}
