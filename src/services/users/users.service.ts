import type { CacheOutcome, CoherentCache } from "../../platform/cache/coherent-cache.ts";
import { createRecentMap } from "../../platform/recent-map.ts";
import { subjectHashOf } from "../gdpr/subject.ts";
import type { UserProfile, UsersRepository } from "./users.repository.ts";

/** Profiles are cached for an hour and dropped from the cache on every write (guide: caching strategy). */
export const USER_CACHE_TTL_SECONDS = 3600;
/**
 * A profile's cache key names the SHA-256 of the id (the subject hash the GDPR deletion ledger keeps),
 * never the id: the invalidation log and Redis then hold no identifier of the person, so an erasure can
 * record the invalidation of the person's profile like any write and leave it to be replayed (ADR 0230).
 */
export function userCacheKey(id: string): string {
  let key = recentCacheKeys.get(id);
  if (key === undefined) recentCacheKeys.set(id, (key = `user:${subjectHashOf(id)}`));
  return key;
}
/**
 * The keys of recently read profiles: a SHA-256 per cached read was ~4 % of an `azora up` cached
 * GET /api/user/:id (docs/adr/0510). The key depends on the id alone, so a remembered one is never stale.
 */
const recentCacheKeys = createRecentMap<string, string>(10_000);

const LEGACY_USER_KEY = /^user:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
/**
 * Versions before ADR 0230 keyed profiles `user:<id>`. While a rolling update runs both, their writes
 * record that key: replaying one also drops the profile under the current key. Remove once no
 * installation runs such a version (their rows are purged 65 minutes after the last of them stopped).
 */
export const legacyUserKeyAliases = (key: string): string[] => {
  const id = LEGACY_USER_KEY.exec(key)?.[1];
  return id ? [userCacheKey(id)] : [];
};

export type { CacheOutcome };
export type ReadResult = { ok: true; user: UserProfile; cache: CacheOutcome } | { ok: false; reason: "not_found" | "forbidden" };
/** A profile as its JSON text (as the cache holds it): a cache hit is answered without parsing and serialising it again. */
export type ReadJsonResult = { ok: true; json: string; cache: CacheOutcome } | { ok: false; reason: "not_found" | "forbidden" };
export type PromoteResult = { ok: true; user: UserProfile; changed: boolean } | { ok: false; reason: "not_found" };

export interface UsersServiceDeps {
  users: UsersRepository;
  cache: CoherentCache;
  onCacheLookup?: (outcome: CacheOutcome) => void;
}

/**
 * Reads and writes profiles with cache-aside; a caller reaches only their own unless they are an admin.
 * The cache is never needed for correctness: when it fails, reads go to the database (`bypass`) and a
 * write is answered as committed (the invalidation log reaches the cache once it is back).
 */
export function createUsersService(deps: UsersServiceDeps) {
  const { users, cache } = deps;

  /** The profile as JSON text: the cached text on a hit, the database's row serialised (and stored) otherwise. */
  async function loadJson(id: string): Promise<{ json: string | undefined; cache: CacheOutcome }> {
    const key = userCacheKey(id);
    const cached = await cache.read(key);
    deps.onCacheLookup?.(cached.outcome);
    if (cached.outcome === "hit") return { json: cached.value, cache: "hit" };
    const user = await users.findById(id);
    const json = user ? JSON.stringify(user) : undefined;
    if (json !== undefined && cached.outcome === "miss") await cache.store(key, json, USER_CACHE_TTL_SECONDS, cached.ticket);
    return { json, cache: cached.outcome };
  }

  async function load(id: string): Promise<{ user: UserProfile | undefined; cache: CacheOutcome }> {
    const { json, cache: outcome } = await loadJson(id);
    return { user: json === undefined ? undefined : (JSON.parse(json) as UserProfile), cache: outcome };
  }

  async function mayAccess(callerId: string, targetId: string): Promise<boolean> {
    if (callerId === targetId) return true;
    // The role is read from the (cached) profile, not the token, so a promotion or demotion counts at once.
    const caller = await load(callerId);
    return caller.user?.role === "admin";
  }

  return {
    async read(callerId: string, id: string): Promise<ReadJsonResult> {
      if (!(await mayAccess(callerId, id))) return { ok: false, reason: "forbidden" };
      const result = await loadJson(id);
      return result.json !== undefined ? { ok: true, json: result.json, cache: result.cache } : { ok: false, reason: "not_found" };
    },

    async update(callerId: string, id: string, changes: { name?: string | null }): Promise<ReadResult> {
      if (!(await mayAccess(callerId, id))) return { ok: false, reason: "forbidden" };
      const current = await users.findById(id);
      if (!current) return { ok: false, reason: "not_found" };
      if (changes.name === undefined) return { ok: true, user: current, cache: "miss" };
      const updated = await users.updateName(id, changes.name, [userCacheKey(id)]);
      await cache.invalidate(userCacheKey(id));
      return updated ? { ok: true, user: updated, cache: "miss" } : { ok: false, reason: "not_found" };
    },

    /** Gives the account a role (`azora user promote`); the change reaches every service's cache through the invalidation log. */
    async setRole(email: string, role: UserProfile["role"]): Promise<PromoteResult> {
      const user = await users.findByEmail(email);
      if (!user) return { ok: false, reason: "not_found" };
      if (user.role !== role) {
        await users.setRole(user.id, role, [userCacheKey(user.id)]);
        await cache.invalidate(userCacheKey(user.id));
      }
      return { ok: true, user: { ...user, role }, changed: user.role !== role };
    },

    isAdmin: async (callerId: string) => (await load(callerId)).user?.role === "admin",
  };
}

export type UsersService = ReturnType<typeof createUsersService>;
