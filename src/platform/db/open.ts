import type { Db } from "./db.ts";
import type { DbSync } from "./pglite-durability.ts";

/**
 * PostgreSQL when a URL is configured, the embedded PGlite otherwise. Each driver is imported only when it is
 * the one opened: PGlite alone takes seconds to load on a busy machine, which every command on PostgreSQL
 * (a rollback among them) paid before it could reach the database.
 */
export async function openDb(options: { url: string | undefined; poolMax: number; pgliteDir: string; sync?: DbSync; queryTimeoutMs?: number }): Promise<Db> {
  if (options.url) return (await import("./postgres.ts")).openPostgres(options.url, options.poolMax, { queryTimeoutMs: options.queryTimeoutMs });
  return (await import("./pglite.ts")).openPglite(options.pgliteDir, { sync: options.sync });
}
