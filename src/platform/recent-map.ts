/**
 * A bounded map that keeps what was used recently, for lookups on every request (verified tokens, profile
 * cache keys, active users): two generations of plain Maps. Writes go to the current one; when it is full it becomes the
 * previous one and the one before is dropped whole; a hit in the previous generation moves forward. An
 * entry used within the last `perGeneration` writes is always kept, and at most twice that many are held.
 * A get is one or two Map lookups, where an LRU's get also relinks its list (docs/adr/0510).
 */
export interface RecentMap<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
}

export function createRecentMap<K, V>(perGeneration: number): RecentMap<K, V> {
  let current = new Map<K, V>();
  let previous = new Map<K, V>();
  const set = (key: K, value: V) => {
    if (current.size >= perGeneration) {
      previous = current;
      current = new Map();
    }
    current.set(key, value);
  };
  return {
    get(key) {
      const value = current.get(key);
      if (value !== undefined) return value;
      const older = previous.get(key);
      if (older !== undefined) set(key, older);
      return older;
    },
    set,
    delete(key) {
      current.delete(key);
      previous.delete(key);
    },
  };
}
