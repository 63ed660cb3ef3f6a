import type { LimiterRedis } from "../../platform/limiter-redis.ts";

/**
 * A shared fixed-window budget in Redis that a gateway process draws on in leases rather than one request
 * at a time (ADR 0180). The counter in Redis counts what has been handed out to processes; a process
 * admits requests from its lease locally and asks for the next lease only when it has used it up.
 *
 * - Never more than the limit: a lease is granted atomically (one Lua call) and only out of what is left.
 * - At least ~90 % of it: a lease is a share of what is left (1/LEASE_DIVISOR, at most LEASE_MAX), so
 *   leases shrink to one request as the budget runs out; what a process can hold unused when the window
 *   ends is at most its last, small, lease.
 * - Few round trips: one per lease, and concurrent requests for a key wait on the lease already asked for.
 *   Calls for different keys in the same tick go to Redis in one write (ioredis auto-pipelining).
 * - A spent budget is remembered until its window ends: refusals cost no Redis call.
 */

/** A lease is this share of what is left in the window… */
const LEASE_DIVISOR = 32;
/** …and never more than this many requests. */
const LEASE_MAX = 100;

/** KEYS[1] the counter; ARGV: limit, window ms, divisor, max lease. Returns {lease, handed out, ms to reset}. */
const LEASE_SCRIPT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
local left = limit - used
local ttl = redis.call('PTTL', KEYS[1])
if left <= 0 then
  if ttl < 0 then ttl = tonumber(ARGV[2]) end
  return {0, used, ttl}
end
local lease = math.min(math.max(1, math.floor(left / tonumber(ARGV[3]))), tonumber(ARGV[4]), left)
used = redis.call('INCRBY', KEYS[1], lease)
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {lease, used, ttl}
`;

export interface BudgetAnswer {
  allowed: boolean;
  /** What is left in the window, this process's lease included (an estimate across processes). */
  remaining: number;
  msBeforeReset: number;
}

interface Lease {
  /** Requests this process may still admit from its lease. */
  left: number;
  /** What Redis had not handed out yet when the lease was granted. */
  sharedLeft: number;
  resetAt: number;
  pending?: Promise<void>;
}

type LeasingRedis = LimiterRedis & { azoraLease(key: string, limit: number, windowMs: number, divisor: number, max: number): Promise<[number, number, number]> };

export function createLeasedBudget(redis: LimiterRedis, options: { keyPrefix: string; limit: number; windowMs: number; now?: () => number }) {
  const { keyPrefix, limit, windowMs } = options;
  const now = options.now ?? Date.now;
  if (!("azoraLease" in redis)) redis.defineCommand("azoraLease", { numberOfKeys: 1, lua: LEASE_SCRIPT });
  const leasing = redis as LeasingRedis;
  const leases = new Map<string, Lease>();

  // After a reconnect the leases held may come from a Redis that lost its data (or whose windows moved on):
  // they are dropped, and the next request asks the Redis that answers now.
  const forget = () => leases.clear();
  redis.on("ready", forget);

  // Windows that ended are forgotten, so the map holds only the clients of the current window.
  const sweep = setInterval(() => {
    const at = now();
    for (const [key, lease] of leases) if (lease.resetAt <= at && !lease.pending) leases.delete(key);
  }, Math.max(1_000, windowMs));
  sweep.unref();

  const renew = (key: string, lease: Lease): Promise<void> => {
    lease.pending = leasing.azoraLease(`${keyPrefix}:${key}`, limit, windowMs, LEASE_DIVISOR, LEASE_MAX).then(
      ([granted, handedOut, msToReset]) => {
        lease.left += Number(granted);
        lease.sharedLeft = Math.max(0, limit - Number(handedOut));
        lease.resetAt = now() + Math.max(1, Number(msToReset));
        lease.pending = undefined;
      },
      (error: unknown) => {
        lease.pending = undefined;
        throw error;
      },
    );
    return lease.pending;
  };

  return {
    limit,
    /** Takes one request from the key's budget; rejects when Redis cannot be asked (the caller then falls back). */
    async consume(key: string): Promise<BudgetAnswer> {
      for (;;) {
        const at = now();
        let lease = leases.get(key);
        if (lease === undefined || (lease.resetAt <= at && !lease.pending)) {
          lease = { left: 0, sharedLeft: limit, resetAt: 0 };
          leases.set(key, lease);
        }
        if (lease.left > 0 && lease.resetAt > at) {
          lease.left--;
          return { allowed: true, remaining: lease.sharedLeft + lease.left, msBeforeReset: lease.resetAt - at };
        }
        // Spent for this window, everywhere: refused without asking Redis again.
        if (lease.resetAt > at && lease.sharedLeft === 0 && !lease.pending) return { allowed: false, remaining: 0, msBeforeReset: lease.resetAt - at };
        await (lease.pending ?? renew(key, lease));
      }
    },
    close(): void {
      clearInterval(sweep);
      redis.off("ready", forget);
      leases.clear();
    },
  };
}

export type LeasedBudget = ReturnType<typeof createLeasedBudget>;
