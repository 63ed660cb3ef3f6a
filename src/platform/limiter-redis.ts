import { Redis } from "ioredis";
import type { Config } from "./config.ts";

export type LimiterRedis = Redis;

/**
 * A Redis connection for rate limiters (gateway limits, the password guard): no queue while disconnected,
 * so a check either reaches Redis now or the per-process budget decides; ioredis keeps reconnecting.
 */
export function openLimiterRedis(config: Config, options: { autoPipelining?: boolean } = {}): LimiterRedis {
  const redis = new Redis(config.redis.url ?? "", {
    keyPrefix: config.redis.keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // The same bounds as the cache (REDIS_COMMAND_TIMEOUT_MS, REDIS_CONNECT_TIMEOUT_MS): a limit check
    // waits no longer for a frozen Redis than a cache read does before the local budget decides.
    commandTimeout: config.redis.commandTimeoutMs,
    connectTimeout: config.redis.connectTimeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    // Calls issued in the same tick leave in one write (the gateway's leases for many clients at once).
    enableAutoPipelining: options.autoPipelining ?? false,
  });
  // Connection errors are reported through degraded() and /health; they must not crash the process.
  redis.on("error", () => undefined);
  return redis;
}
