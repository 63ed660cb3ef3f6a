import type { Cache } from "./cache.ts";
import { createMemoryCache } from "./memory.ts";
import { createRedisCache } from "./redis.ts";

/** Redis when a URL is configured, the in-process store otherwise. */
export function openCache(options: { url: string | undefined; keyPrefix: string }): Promise<Cache> {
  return options.url ? createRedisCache(options.url, options.keyPrefix) : Promise.resolve(createMemoryCache());
}
