import type { Cache } from "../cache/cache.ts";
import type { Clock } from "../clock.ts";
import type { Db } from "../db/db.ts";
import { createRecentMap } from "../recent-map.ts";
import { createRevocationRepository, type TokenStanding } from "./revocation.repository.ts";

/**
 * How long a user's standing may be served from a cache. The shared cache (Redis, or the in-process store)
 * keeps it REVOCATION_SHARED_TTL_SECONDS and each process LOCAL_TTL_MS on top: a revocation reaches every
 * gateway and service within 5 s even when whoever revoked could not reach the shared cache.
 */
export const REVOCATION_SHARED_TTL_SECONDS = 4;
const LOCAL_TTL_MS = 1_000;

export const standingCacheKey = (userId: string) => `token-standing:${userId}`;

/** Decides, per request, whether an access token issued at `issuedAtSeconds` to `userId` still counts. */
export interface RevocationCheck {
  isCurrent(userId: string, issuedAtSeconds: number): Promise<boolean>;
}

/** The per-user "tokens valid after" check every token verifier runs (gateway and services alike). */
export function createRevocationCheck(deps: { db: Db; cache: Cache; clock: Clock }): RevocationCheck {
  const repository = createRevocationRepository(deps.db);
  // Read by every verification (the edge's and the handler's): plain maps (recent-map.ts), at most 50,000 users.
  const local = createRecentMap<string, { standing: TokenStanding; until: number }>(25_000);

  async function standingOf(userId: string): Promise<TokenStanding> {
    const now = deps.clock.now();
    const hit = local.get(userId);
    if (hit && hit.until > now) return hit.standing;
    // A cache that cannot answer is skipped: the database decides (Redis is never a dependency of correctness).
    const shared = await deps.cache.get(standingCacheKey(userId)).catch(() => undefined);
    let standing: TokenStanding;
    if (shared) standing = JSON.parse(shared) as TokenStanding;
    else {
      standing = await repository.standingOf(userId);
      await deps.cache.set(standingCacheKey(userId), JSON.stringify(standing), REVOCATION_SHARED_TTL_SECONDS).catch(() => undefined);
    }
    local.set(userId, { standing, until: now + LOCAL_TTL_MS });
    return standing;
  }

  return {
    async isCurrent(userId, issuedAtSeconds) {
      const standing = await standingOf(userId);
      // iat has whole seconds: the issuer never dates a token before the cut-off (see issuedAtFor).
      return standing.exists && !standing.disabled && issuedAtSeconds * 1000 >= standing.validAfterMs;
    },
  };
}

/** The iat a new token gets: now, but never earlier than the user's cut-off (at most one second ahead). */
export function issuedAtFor(nowMs: number, validAfterMs: number): number {
  return Math.max(Math.floor(nowMs / 1000), Math.ceil(validAfterMs / 1000));
}

/** Drops the cached standing after a change that lets tokens count again (an account enabled): within 5 s everywhere. */
export async function forgetStanding(cache: Cache, userId: string): Promise<void> {
  await cache.del(standingCacheKey(userId)).catch(() => undefined);
}

/** Ends every access token issued to the user so far; the shared cache entry goes at once, local ones within 1 s. */
export async function revokeTokensOf(deps: { db: Db; cache: Cache; clock: Clock }, userId: string): Promise<boolean> {
  const revoked = await createRevocationRepository(deps.db).revokeTokens(userId, new Date(deps.clock.now()));
  await deps.cache.del(standingCacheKey(userId)).catch(() => undefined);
  return revoked;
}
