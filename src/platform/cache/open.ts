import type { Cache } from "./cache.ts";
import { createMemoryCache } from "./memory.ts";

export interface OpenCacheOptions {
  url: string | undefined;
  keyPrefix: string;
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  onUnreachable?: (reason: string) => void;
}

/** Redis when a URL is configured, the in-process store otherwise (ioredis is loaded only for Redis). */
export async function openCache(options: OpenCacheOptions): Promise<Cache> {
  if (!options.url) return createMemoryCache();
  return (await import("./redis.ts")).createRedisCache({ ...options, url: options.url });
}
