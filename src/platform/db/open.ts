import type { Db } from "./db.ts";
import { openPglite } from "./pglite.ts";
import type { DbSync } from "./pglite-durability.ts";
import { openPostgres } from "./postgres.ts";

/** PostgreSQL when a URL is configured, the embedded PGlite otherwise. */
export function openDb(options: { url: string | undefined; poolMax: number; pgliteDir: string; sync?: DbSync; queryTimeoutMs?: number }): Promise<Db> {
  return options.url ? openPostgres(options.url, options.poolMax, { queryTimeoutMs: options.queryTimeoutMs }) : openPglite(options.pgliteDir, { sync: options.sync });
}
