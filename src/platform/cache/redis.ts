import { Redis } from "ioredis";
import type { Cache } from "./cache.ts";

export interface RedisCacheOptions {
  url: string;
  keyPrefix: string;
  /** A command without an answer in this time fails (a frozen Redis must not hold a request). */
  commandTimeoutMs?: number;
  /** How long the first connection may take before start-up goes on without the cache. */
  connectTimeoutMs?: number;
  /** Told once when Redis cannot be reached at start; the client keeps reconnecting in the background. */
  onUnreachable?: (reason: string) => void;
}

/**
 * Redis-backed cache; every key carries the configured prefix. Redis is a cache, never a dependency of
 * correctness: no offline queue (a command while disconnected fails at once instead of waiting for a
 * reconnect that may never come), no retries of a command, a short command timeout, and reconnection
 * forever in the background. Callers treat a failed command as a cache miss.
 */
export async function createRedisCache(options: RedisCacheOptions): Promise<Cache> {
  const connectTimeout = options.connectTimeoutMs ?? 2_000;
  const redis = new Redis(options.url, {
    keyPrefix: options.keyPrefix,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs ?? 500,
    connectTimeout,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  // Connection errors surface on the next command and in /health; they must not crash the process.
  let lastError = "";
  redis.on("error", (error: NodeJS.ErrnoException) => {
    lastError = error.code ?? error.message;
  });
  // Every established connection that closes counts (a failed attempt to connect never was ready).
  let losses = 0;
  let wasReady = false;
  redis.on("ready", () => (wasReady = true));
  redis.on("close", () => {
    if (wasReady) losses++;
    wasReady = false;
  });
  const started = await connectWithin(redis, connectTimeout + 500);
  if (!started.ok) options.onUnreachable?.(lastError || started.reason);

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
    forget: async (set, member) => {
      await redis.zrem(set, member);
    },
    countSince: async (set, sinceMs) => {
      const [, count] = (await redis.multi().zremrangebyscore(set, "-inf", `(${sinceMs}`).zcard(set).exec()) ?? [];
      return Number(count?.[1] ?? 0);
    },
    ping: async () => {
      if (redis.status !== "ready") throw new Error(`not connected (${lastError || redis.status})`);
      await redis.ping();
    },
    connectionLosses: () => losses,
    close: async () => {
      if (redis.status === "ready") await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}

/** The first connection, bounded: a refused, unreachable or frozen Redis gives up after `deadlineMs`. */
async function connectWithin(redis: Redis, deadlineMs: number): Promise<{ ok: true } | { ok: false; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<{ ok: false; reason: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `no answer within ${deadlineMs} ms` }), deadlineMs);
  });
  const connecting = redis.connect().then(
    () => ({ ok: true }) as const,
    (error: Error) => ({ ok: false, reason: error.message }) as const,
  );
  try {
    return await Promise.race([connecting, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
