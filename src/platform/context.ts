import type { BlobStore } from "./blobs/blob-store.ts";
import { openBlobStore } from "./blobs/open.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { Cache } from "./cache/cache.ts";
import { createCoherentCache, type CoherentCache } from "./cache/coherent-cache.ts";
import { createInvalidationLogRepository } from "./cache/invalidation-log.repository.ts";
import { openCache } from "./cache/open.ts";
import type { Config } from "./config.ts";
import type { Db } from "./db/db.ts";
import { migrate, verifyMigrations } from "./db/migrator.ts";
import { openDb } from "./db/open.ts";
import { LogEvent } from "./log-events.ts";
import { createLogs, type Logs } from "./logger.ts";
import { loadOrCreateSecret } from "./secrets.ts";
import { legacyUserKeyAliases } from "../services/users/users.service.ts";

/** Everything a service or a command runs on: config, logs, database, cache, clock and secrets. */
export interface PlatformContext {
  config: Config;
  logs: Logs;
  db: Db;
  cache: Cache;
  /** Attachment bytes: DATA_DIR/blobs, or the S3 bucket when S3_BUCKET is set. */
  blobs: BlobStore;
  /** Cache-aside for entities that writes change (user profiles): never older than an acknowledged write. */
  coherentCache: CoherentCache;
  clock: Clock;
  masterSecret: string;
}

export interface OpenOptions {
  /** Apply pending migrations (the embedded default and `azora migrate`; never per replica in production). */
  migrate: boolean;
  logs?: Logs;
  clock?: Clock;
  /** Told about a dependency that is degraded at start (Redis unreachable): the process goes on without it. */
  warn?: (message: string) => void;
  /** Serving processes bound each PostgreSQL statement (DB_QUERY_TIMEOUT_MS); operator commands do not. */
  serving?: boolean;
}

/** Opens the platform's resources in start-up order; closes what it opened if a later step fails. */
export async function openPlatform(config: Config, options: OpenOptions): Promise<PlatformContext> {
  const logs = options.logs ?? createLogs({ dir: config.paths.logs, level: config.log.level, stdout: config.log.stdout });
  const opened: { close(): Promise<void> }[] = [];
  try {
    const masterSecret = await loadOrCreateSecret(config.paths.secrets, "master.key", config.masterKey);
    // The cache first: it is quick to open, so a Redis that cannot be reached is reported within seconds,
    // before the (possibly slow) database start.
    const cache = await openCache({
      ...config.redis,
      onUnreachable: (reason) => {
        const message = `Redis (REDIS_URL) is unreachable (${reason}): going on without the cache; reads go to the database until Redis answers, then the cache is used again by itself.`;
        logs.api.warn({ event: LogEvent.CACHE_DEGRADED, reason }, "cache unreachable at start");
        options.warn?.(message);
      },
    });
    opened.push(cache);
    const db = await openDb({
      url: config.database.url,
      poolMax: config.database.poolMax,
      pgliteDir: config.paths.pg,
      sync: config.database.sync,
      ...(options.serving ? { queryTimeoutMs: config.database.queryTimeoutMs } : {}),
    });
    opened.push(db);
    if (options.migrate) {
      const report = await migrate(db);
      if (report.applied.length > 0) logs.api.info({ event: "migrations_applied", versions: report.applied }, "migrations applied");
    } else {
      // Code whose migration files differ from what the database applied must not serve it.
      await verifyMigrations(db);
    }
    const blobs = await openBlobStore(config);
    const clock = options.clock ?? systemClock;
    const coherentCache = createCoherentCache({
      cache,
      log: createInvalidationLogRepository(db.background),
      clock,
      relatedKeys: legacyUserKeyAliases,
      onStateChange: (state, detail) => {
        if (state === "degraded") logs.api.warn({ event: LogEvent.CACHE_DEGRADED, reason: detail.reason }, "cache unavailable: reads go to the database");
        else logs.api.info({ event: LogEvent.CACHE_RECOVERED, replayed: detail.replayed }, "cache available again");
      },
    });
    return { config, logs, db, cache, coherentCache, blobs, clock, masterSecret };
  } catch (error) {
    for (const resource of opened.reverse()) await resource.close().catch(() => undefined);
    if (!options.logs) logs.close();
    throw error;
  }
}

/** Closes in reverse start-up order. */
export async function closePlatform(context: PlatformContext): Promise<void> {
  await context.coherentCache.stop();
  await context.blobs.close().catch(() => undefined);
  await context.cache.close().catch(() => undefined);
  await context.db.close().catch(() => undefined);
  context.logs.close();
}
