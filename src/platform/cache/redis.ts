import { Redis } from "ioredis";
import type { Cache } from "./cache.ts";

/** Redis-backed cache; every key carries the configured prefix. */
export async function createRedisCache(url: string, keyPrefix: string): Promise<Cache> {
  const redis = new Redis(url, { keyPrefix, lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true });
  // Connection errors surface on the next command and in /health; they must not crash the process.
  redis.on("error", () => undefined);
  await redis.connect();

  return {
    kind: "redis",
    get: async (key) => (await redis.get(key)) ?? undefined,
    set: async (key, value, ttlSeconds) => {
      await redis.set(key, value, "EX", ttlSeconds);
    },
    del: async (...keys) => {
      if (keys.length > 0) await redis.del(...keys);
    },
    touch: async (set, member, atMs) => {
      await redis.zadd(set, atMs, member);
    },
    countSince: async (set, sinceMs) => {
      const [, count] = (await redis.multi().zremrangebyscore(set, "-inf", `(${sinceMs}`).zcard(set).exec()) ?? [];
      return Number(count?.[1] ?? 0);
    },
    ping: async () => {
      await redis.ping();
    },
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
