import { systemClock, type Clock } from "./clock.ts";
import type { Cache } from "./cache/cache.ts";
import { openCache } from "./cache/open.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/db.ts";
import { migrate } from "./db/migrator.ts";
import { openDb } from "./db/open.ts";
import { createLogs, type Logs } from "./logger.ts";
import { loadOrCreateSecret } from "./secrets.ts";

/** Everything a service or a command runs on: config, logs, database, cache, clock and secrets. */
export interface PlatformContext {
  config: Config;
  logs: Logs;
  db: Db;
  cache: Cache;
  clock: Clock;
  masterSecret: string;
}

export interface OpenOptions {
  /** Apply pending migrations (the embedded default and `azora migrate`; never per replica in production). */
  migrate: boolean;
  logs?: Logs;
  clock?: Clock;
}

/** Opens the platform's resources in start-up order; closes what it opened if a later step fails. */
export async function openPlatform(config: Config, options: OpenOptions): Promise<PlatformContext> {
  const logs = options.logs ?? createLogs({ dir: config.paths.logs, level: config.log.level, stdout: config.log.stdout });
  const opened: { close(): Promise<void> }[] = [];
  try {
    const masterSecret = await loadOrCreateSecret(config.paths.secrets, "master.key", config.masterKey);
    const db = await openDb({ url: config.database.url, poolMax: config.database.poolMax, pgliteDir: config.paths.pg });
    opened.push(db);
    if (options.migrate) {
      const report = await migrate(db);
      if (report.applied.length > 0) logs.api.info({ event: "migrations_applied", versions: report.applied }, "migrations applied");
    }
    const cache = await openCache(config.redis);
    opened.push(cache);
    return { config, logs, db, cache, clock: options.clock ?? systemClock, masterSecret };
  } catch (error) {
    for (const resource of opened.reverse()) await resource.close().catch(() => undefined);
    if (!options.logs) logs.close();
    throw error;
  }
}

/** Closes in reverse start-up order. */
export async function closePlatform(context: PlatformContext): Promise<void> {
  await context.cache.close().catch(() => undefined);
  await context.db.close().catch(() => undefined);
  context.logs.close();
}
