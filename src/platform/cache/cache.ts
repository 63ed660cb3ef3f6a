/** A string key/value store with expiry: Redis in production, in-process on the embedded default. */
export interface Cache {
  readonly kind: "memory" | "redis";
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  del(...keys: string[]): Promise<void>;
  /** Remembers that `member` was seen at `atMs` in the named recency set. */
  touch(set: string, member: string, atMs: number): Promise<void>;
  /** Drops a member from a recency set (GDPR erasure: the id must not linger there). */
  forget(set: string, member: string): Promise<void>;
  /** Members of the recency set seen at or after `sinceMs` (older ones are dropped). */
  countSince(set: string, sinceMs: number): Promise<number>;
  ping(): Promise<void>;
  /**
   * How many times the connection has been lost so far (0 for the in-process store). A server that comes
   * back (a restarted Redis with its append-only file) may hold entries whose deletes failed meanwhile,
   * even for a process that sent no command while it was away.
   */
  connectionLosses(): number;
  close(): Promise<void>;
}
