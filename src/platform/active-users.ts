import type { Cache } from "./cache/cache.ts";
import type { Clock } from "./clock.ts";
import { createRecentMap } from "./recent-map.ts";

const WINDOW_MS = 15 * 60_000;
/** A user's timestamp is written at most once a minute per process: the window is 15 minutes, so nothing is lost. */
const WRITE_EVERY_MS = 60_000;
/** The recency set's name in the cache (GDPR erasure removes a person from it). */
export const ACTIVE_USERS_SET = "active_users";

/** Counts distinct users with an authenticated request in the last 15 minutes, across replicas through the shared cache. */
export function createActiveUsers(cache: Cache, clock: Clock) {
  // Read on every authenticated request: plain maps (recent-map.ts), at most 100,000 users held, as the LRU did.
  const lastWritten = createRecentMap<string, number>(50_000);
  return {
    /** Called for every authenticated request; cheap when the user was seen recently. */
    seen(userId: string): void {
      const now = clock.now();
      const last = lastWritten.get(userId);
      if (last !== undefined && now - last < WRITE_EVERY_MS) return;
      lastWritten.set(userId, now);
      // Fire and forget: a metric must never fail or slow a request.
      cache.touch(ACTIVE_USERS_SET, userId, now).catch(() => lastWritten.delete(userId));
    },
    count: () => cache.countSince(ACTIVE_USERS_SET, clock.now() - WINDOW_MS),
  };
}

export type ActiveUsers = ReturnType<typeof createActiveUsers>;
