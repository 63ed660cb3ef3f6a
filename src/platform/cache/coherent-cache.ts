import { LRUCache } from "lru-cache";
import type { Clock } from "../clock.ts";
import type { Cache } from "./cache.ts";
import type { InvalidationLogRepository } from "./invalidation-log.repository.ts";

export type CacheOutcome = "hit" | "miss" | "bypass";
/** A miss carries the moment of the lookup: what was read from the database after it may be stored only if no invalidation of that key came since. */
export type CacheRead = { outcome: "hit"; value: string } | { outcome: "miss"; ticket: number } | { outcome: "bypass" };

const PURGE_EVERY_SYNCS = 300;
const DEL_CHUNK = 500;
/** Keys whose latest invalidation is remembered; a store older than the oldest forgotten one is refused. */
const REMEMBERED_INVALIDATIONS = 100_000;

export interface CoherentCacheOptions {
  cache: Cache;
  log: InvalidationLogRepository;
  clock: Clock;
  /** How often the invalidation log is replayed into the cache. */
  syncIntervalMs?: number;
  /**
   * Further keys to drop with a replayed one: keys an earlier version of the code used for the same data
   * (a rolling update runs both versions against one log).
   */
  relatedKeys?: (key: string) => string[];
  /** Told when the cache stops being used (reads go to the database) and when it is used again. */
  onStateChange?: (state: "degraded" | "recovered", detail: { replayed: number; reason?: string }) => void;
}

/**
 * Cache-aside that never serves an entry older than an acknowledged write, whatever Redis does.
 *
 * Writes record the keys they make stale in the database (cache_invalidations, same transaction), then
 * delete them from the cache; a failed delete is not an error (the write committed and is answered so).
 * Every serving process replays newly committed log rows into its cache once a second and pings it (the
 * cursor is a database snapshot, so a transaction that commits late is still read: ADR 0230). The cache is read
 * only while that replay is current (within 10 s) and no cache command has failed (nor the connection been lost) since: after any failure, reads go to
 * the database (`bypass`) until a replay has gone through, so entries a failed delete left behind are gone
 * before the cache is trusted again. Operator commands write the same log, so a change made without the
 * services' Redis still reaches it.
 *
 * A reader that missed, read the database before a write committed and stores after the write's delete
 * would put the old value back for a whole TTL. So every invalidation this process applies is numbered
 * (before its delete is sent), and a store is refused when its key was invalidated after the lookup.
 */
export function createCoherentCache(options: CoherentCacheOptions) {
  const { cache, log, clock } = options;
  const intervalMs = options.syncIntervalMs ?? 1_000;
  let failures = 0;
  let failuresAtLastSync = 0;
  let lastSyncAt = Number.NEGATIVE_INFINITY;
  let degraded = false;
  /** The snapshot of the last replay that went through: the next one reads what committed after it. */
  let cursor: string | undefined;
  let syncs = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = true;
  let invalidations = 0;
  let forgottenUpTo = 0;
  const invalidatedAt = new LRUCache<string, number>({
    max: REMEMBERED_INVALIDATIONS,
    dispose: (numbered, _key, reason) => {
      if (reason === "evict") forgottenUpTo = Math.max(forgottenUpTo, numbered);
    },
  });
  /** Numbers an invalidation of these keys; called before their delete is sent, so a later store sees it. */
  const noteInvalidated = (keys: string[]) => {
    invalidations++;
    for (const key of keys) invalidatedAt.set(key, invalidations);
  };
  const invalidatedSince = (key: string, ticket: number) => ticket < forgottenUpTo || (invalidatedAt.get(key) ?? 0) > ticket;

  // Generous: a busy process whose replay runs late must not lose its cache; what the window guards
  // against is a process cut off from the log (the database) while others write.
  const trustWindowMs = Math.max(10 * intervalMs, 10_000);
  // A lost connection counts like a failed command: the server that answers after it (Redis restarted
  // with its persisted data) is trusted only once a replay has gone through on it.
  let lossesAtLastSync = cache.connectionLosses();
  const trusted = () => failures === failuresAtLastSync && cache.connectionLosses() === lossesAtLastSync && clock.now() - lastSyncAt < trustWindowMs;
  const failed = (error: unknown) => {
    failures++;
    if (!degraded) {
      degraded = true;
      options.onStateChange?.("degraded", { replayed: 0, reason: reasonOf(error) });
    }
  };

  /** Replays log rows not yet applied into the cache; true when the cache may be trusted again. */
  async function sync(): Promise<boolean> {
    const failuresAtStart = failures;
    const lossesAtStart = cache.connectionLosses();
    try {
      // After a lost connection the server may be one with older data (a crash before its append-only file
      // was synced, a failover to a lagging replica, a restored backup): deletes it acknowledged, and that
      // earlier replays counted as done, may be undone. So the replay after a loss covers the whole
      // retention window again, once the server answers (a ping first spares the database that larger read
      // while Redis is still away).
      const lostSinceLastSync = lossesAtStart !== lossesAtLastSync;
      if (lostSinceLastSync) await cache.ping();
      const batch = await log.since(lostSinceLastSync ? undefined : cursor);
      const keys = batch.keys.flatMap((key) => [key, ...(options.relatedKeys?.(key) ?? [])]);
      if (keys.length > 0) noteInvalidated(keys);
      for (let start = 0; start < keys.length; start += DEL_CHUNK) await cache.del(...keys.slice(start, start + DEL_CHUNK));
      await cache.ping();
      // Only a replay whose deletes all went through moves the cursor: after a failure the same rows are read again.
      cursor = batch.snapshot;
      if (++syncs % PURGE_EVERY_SYNCS === 0) await log.purge().catch(() => undefined);
      if (failures === failuresAtStart && cache.connectionLosses() === lossesAtStart) {
        failuresAtLastSync = failuresAtStart;
        lossesAtLastSync = lossesAtStart;
        lastSyncAt = clock.now();
        if (degraded) {
          degraded = false;
          options.onStateChange?.("recovered", { replayed: keys.length });
        }
      }
      return true;
    } catch (error) {
      failed(error);
      return false;
    }
  }

  const loop = () => {
    if (stopped) return;
    running = sync().finally(() => {
      if (!stopped) timer = setTimeout(loop, intervalMs).unref();
    });
  };

  return {
    /** A cache lookup; `bypass` when the cache is not trusted or fails (read the database, do not store). */
    async read(key: string): Promise<CacheRead> {
      if (!trusted()) return { outcome: "bypass" };
      const ticket = invalidations;
      try {
        const value = await cache.get(key);
        return value === undefined ? { outcome: "miss", ticket } : { outcome: "hit", value };
      } catch (error) {
        failed(error);
        return { outcome: "bypass" };
      }
    },
    /** Stores a value read from the database after the miss that gave `ticket`; best effort. */
    async store(key: string, value: string, ttlSeconds: number, ticket: number): Promise<void> {
      if (!trusted() || invalidatedSince(key, ticket)) return;
      await cache.set(key, value, ttlSeconds).catch(failed);
    },
    /** Drops keys a committed write made stale (the write recorded them in the log); best effort. */
    async invalidate(...keys: string[]): Promise<void> {
      noteInvalidated(keys);
      await cache.del(...keys).catch(failed);
    },
    sync,
    /** Whether reads use the cache right now (false while degraded). */
    trusted,
    /** First replay, then one every interval; the serving process's composition root starts it. */
    async start(): Promise<void> {
      stopped = false;
      await sync();
      timer = setTimeout(loop, intervalMs).unref();
    },
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await running.catch(() => undefined);
    },
  };
}

export type CoherentCache = ReturnType<typeof createCoherentCache>;

function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string") return code;
  return (error instanceof Error ? error.message : String(error)).replace(/\b[a-z]+:\/\/\S+/gi, "[url]").slice(0, 200);
}
