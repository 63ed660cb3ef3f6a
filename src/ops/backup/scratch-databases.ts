import pg from "pg";
import { databaseOf, maintenanceUrl } from "./postgres-engine.ts";
import { quoteIdent } from "./postgres-tools.ts";

/**
 * Scratch databases (`NAME_restore_…`, `NAME_drill_…`) are where a restore or a drill loads a backup beside
 * the live database. Each is leased: a session-level advisory lock, taken before the database is created and
 * held until it is dropped or swapped in, on the server's maintenance database (advisory locks belong to one
 * database, and the live one is renamed during a swap). A killed restore's session ends with its process, so
 * its lock goes with it: a scratch database whose lock can be taken is abandoned, and only those are dropped.
 */
export interface ScratchLease {
  /** Lets go of the lock: the database is gone or is no longer a scratch copy (it was swapped in). */
  release(): Promise<void>;
}

const lockKey = (name: string) => `azora-scratch:${name}`;
const LOCK = "SELECT pg_advisory_lock(hashtextextended($1, 0))";
const TRY_LOCK = "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS taken";
const UNLOCK = "SELECT pg_advisory_unlock(hashtextextended($1, 0))";

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: maintenanceUrl(url), connectionTimeoutMillis: 10_000, application_name: "azora-scratch-lease" });
  client.on("error", () => undefined);
  await client.connect();
  return client;
}

/** Takes the lease on a scratch database name; call before creating it. */
export async function leaseScratchDatabase(url: string, name: string): Promise<ScratchLease> {
  const client = await connect(url);
  try {
    await client.query(LOCK, [lockKey(name)]);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query(UNLOCK, [lockKey(name)]).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

/** Whether a database name is one of this installation's scratch copies (the names scratchName makes). */
export function isScratchName(live: string, name: string): boolean {
  const prefix = live.slice(0, 40);
  return name.startsWith(`${prefix}_`) && /^_(restore|drill)_[0-9a-f]{8}$/.test(name.slice(prefix.length));
}

/**
 * Drops the scratch databases no running restore or drill holds (left by a killed one); returns their names.
 * Each lock is taken before its database is dropped, so a restore cannot start using one meanwhile.
 * With dryRun nothing is dropped: it says which would be.
 */
export async function dropAbandonedScratchDatabases(url: string, options: { dryRun?: boolean } = {}): Promise<string[]> {
  const live = databaseOf(url);
  const client = await connect(url);
  const dropped: string[] = [];
  try {
    const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_database ORDER BY datname");
    for (const { datname } of rows) {
      if (!isScratchName(live, datname)) continue;
      const { rows: lock } = await client.query<{ taken: boolean }>(TRY_LOCK, [lockKey(datname)]);
      if (!lock[0]?.taken) continue;
      try {
        if (!options.dryRun) await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
        dropped.push(datname);
      } finally {
        await client.query(UNLOCK, [lockKey(datname)]);
      }
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  return dropped;
}
