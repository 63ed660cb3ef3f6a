import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { Config } from "../../platform/config.ts";
import { openLimiterRedis } from "../../platform/limiter-redis.ts";
import type { RateLimitBudgets } from "../security/policy-watcher.ts";
import { createLeasedBudget, type LeasedBudget } from "./leased-budget.ts";

/** Route groups with their own budget: the auth routes are far stricter than reads. */
export type RouteGroup = "auth" | "read" | "write";

/** One request's standing against its group's budget, for the RateLimit-* headers. */
export interface LimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets (the budget is full again). */
  resetSeconds: number;
}

export interface RateLimits {
  /** Takes one request from the key's budget in the group; undefined when the group is not limited. */
  take(group: RouteGroup, key: string): Promise<LimitDecision | undefined>;
  /** True while a configured Redis cannot be reached (limits then run on per-process budgets or not at all). */
  degraded(): boolean;
  close(): Promise<void>;
}

/**
 * Per-group limiters. With REDIS_URL every gateway process draws on one shared budget per key in Redis, in
 * leases (leased-budget.ts, ADR 0180): a process takes a batch of requests from the shared counter in one
 * atomic call and admits from it locally, so a shared limit costs a Redis round trip per lease, not per
 * request, and all processes together still admit no more than the limit. A key that has used its budget is
 * remembered in-process until its window ends, so a client hammering past its limit costs no Redis call.
 * When Redis is unreachable, a per-process limiter with the same budget decides (or, configured "open",
 * nothing does); ioredis keeps reconnecting, and the shared budget is used again as soon as it answers.
 * The budgets are read on every request (the security policy in force, see policy-watcher.ts).
 */
export function createRateLimits(config: Config, budgets: () => RateLimitBudgets): RateLimits {
  const { onRedisFailure } = config.rateLimits;
  const redis = config.redis.url ? openLimiterRedis(config, { autoPipelining: true }) : undefined;

  interface GroupLimiter {
    points: number;
    local: RateLimiterMemory;
    shared: LeasedBudget | undefined;
  }
  // Rebuilt when the budgets change (a security policy update): the Redis counters keep their keys, so a
  // client's use so far still counts against the new limit; leases taken under the old limit are dropped.
  let built = "";
  let builtFrom: RateLimitBudgets | undefined;
  let limiters = new Map<RouteGroup, GroupLimiter>();
  const current = (): Map<RouteGroup, GroupLimiter> => {
    const read = budgets();
    // The same budgets object as last time: nothing to compare (this runs on every request).
    if (read === builtFrom) return limiters;
    builtFrom = read;
    const { windowSeconds, perGroup } = read;
    const signature = `${windowSeconds}:${perGroup.auth}:${perGroup.read}:${perGroup.write}`;
    if (signature === built) return limiters;
    for (const limiter of limiters.values()) limiter.shared?.close();
    const next = new Map<RouteGroup, GroupLimiter>();
    for (const group of ["auth", "read", "write"] as const) {
      const points = perGroup[group];
      if (points === 0) continue;
      next.set(group, {
        points,
        local: new RateLimiterMemory({ keyPrefix: `rl:${group}`, points, duration: windowSeconds }),
        shared: redis ? createLeasedBudget(redis, { keyPrefix: `rl:${group}`, limit: points, windowMs: windowSeconds * 1000 }) : undefined,
      });
    }
    built = signature;
    limiters = next;
    return limiters;
  };

  const decision = (points: number, allowed: boolean, remaining: number, msBeforeNext: number): LimitDecision => ({
    allowed,
    limit: points,
    remaining: Math.max(0, Math.min(points, remaining)),
    resetSeconds: Math.max(1, Math.ceil(msBeforeNext / 1000)),
  });

  const takeLocally = async (limiter: GroupLimiter, key: string): Promise<LimitDecision> => {
    try {
      const result = await limiter.local.consume(key);
      return decision(limiter.points, true, result.remainingPoints, result.msBeforeNext);
    } catch (outcome) {
      if (outcome instanceof RateLimiterRes) return decision(limiter.points, false, 0, outcome.msBeforeNext);
      throw outcome;
    }
  };

  return {
    async take(group, key) {
      const limiter = current().get(group);
      if (!limiter) return undefined;
      if (!limiter.shared || !redis) return takeLocally(limiter, key);
      // Never queue behind a reconnecting Redis: the fallback decides at once.
      if (redis.status === "ready") {
        try {
          const answer = await limiter.shared.consume(key);
          return decision(limiter.points, answer.allowed, answer.remaining, answer.msBeforeReset);
        } catch {
          // Redis failed mid-call: fall through to the fallback below.
        }
      }
      // "local": the same budget per process; "open": let the request through.
      return onRedisFailure === "local" ? takeLocally(limiter, key) : undefined;
    },
    degraded: () => redis !== undefined && redis.status !== "ready",
    async close() {
      for (const limiter of limiters.values()) limiter.shared?.close();
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** The RateLimit-* headers (IETF draft) for an answer; Retry-After too when the request was refused. */
export function rateLimitHeaders(decision: LimitDecision, windowSeconds: number): Record<string, string> {
  const headers: Record<string, string> = {
    "ratelimit-limit": String(decision.limit),
    "ratelimit-remaining": String(decision.remaining),
    "ratelimit-reset": String(decision.resetSeconds),
    "ratelimit-policy": `${decision.limit};w=${windowSeconds}`,
  };
  if (!decision.allowed) headers["retry-after"] = String(decision.resetSeconds);
  return headers;
}
