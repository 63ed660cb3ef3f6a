import type { Cache } from "./cache.ts";
import { createMemoryCache } from "./memory.ts";
import { createRedisCache } from "./redis.ts";

export interface OpenCacheOptions {
  url: string | undefined;
  keyPrefix: string;
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  onUnreachable?: (reason: string) => void;
}

/** Redis when a URL is configured, the in-process store otherwise. */
export function openCache(options: OpenCacheOptions): Promise<Cache> {
  if (!options.url) return Promise.resolve(createMemoryCache());
  return createRedisCache({ ...options, url: options.url });
}
