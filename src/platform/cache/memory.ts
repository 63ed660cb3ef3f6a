import { LRUCache } from "lru-cache";
import type { Cache } from "./cache.ts";

/** The in-process store: an LRU with per-entry TTL, bounded in entries. */
export function createMemoryCache(maxEntries = 50_000): Cache {
  const entries = new LRUCache<string, string>({ max: maxEntries, ttlAutopurge: false });
  const recency = new Map<string, Map<string, number>>();

  return {
    kind: "memory",
    get: async (key) => entries.get(key),
    set: async (key, value, ttlSeconds) => {
      entries.set(key, value, { ttl: ttlSeconds * 1000 });
    },
    del: async (...keys) => {
      for (const key of keys) entries.delete(key);
    },
    touch: async (set, member, atMs) => {
      let members = recency.get(set);
      if (!members) recency.set(set, (members = new Map()));
      members.set(member, atMs);
    },
    forget: async (set, member) => {
      recency.get(set)?.delete(member);
    },
    countSince: async (set, sinceMs) => {
      const members = recency.get(set);
      if (!members) return 0;
      for (const [member, at] of members) if (at < sinceMs) members.delete(member);
      return members.size;
    },
    ping: async () => undefined,
    connectionLosses: () => 0,
    close: async () => {
      entries.clear();
      recency.clear();
    },
  };
}
