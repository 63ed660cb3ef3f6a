import { createHash } from "node:crypto";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { Clock } from "../../platform/clock.ts";
import type { Config } from "../../platform/config.ts";
import { LogEvent } from "../../platform/log-events.ts";
import type { Logger } from "../../platform/logger.ts";
import { openLimiterRedis, type LimiterRedis } from "../../platform/limiter-redis.ts";
import type { LoginGuardPolicy } from "../security/policy-watcher.ts";
import { dummyPasswordHash, verifyPassword } from "./passwords.ts";

/**
 * The one limiter in front of every password check (login, password change, self-service erasure).
 * The design, and why nobody can lock a victim out by guessing, is in docs/auth-security.md.
 */
export type GuardVerdict =
  | { ok: true }
  /** `backoff`: refused without checking the password; the caller answers exactly as for a wrong one. */
  | { ok: false; reason: "wrong_password" | "backoff" }
  /** The client IP used up its daily budget of failures: the one answer that differs (429 + Retry-After). */
  | { ok: false; reason: "rate_limited"; retryAfterSeconds: number };

export interface PasswordAttempt {
  /** The account's email as typed (normalised here) or its id: the key of the account's back-off. */
  account: string;
  /** The client IP as taken through TRUSTED_PROXIES only. */
  ip: string;
  /** What is checked (login, password_change, erasure): logged with the events. */
  purpose: string;
}

export interface PasswordGuard {
  /**
   * Runs `check` (one password verification) under the throttles. Every path that checks a password
   * calls this, so guesses spread over login, change and erasure draw on one budget.
   */
  guardPasswordCheck(attempt: PasswordAttempt, check: () => Promise<boolean>): Promise<GuardVerdict>;
  /**
   * Forgets the account's consecutive failures (its back-off) and the (account, IP) block of `ip`: called when the
   * owner proved control of the mailbox by a password reset, so strangers' guesses before it do not lock them out.
   */
  forgetFailures(account: string, ip: string): Promise<void>;
  degraded(): boolean;
  close(): Promise<void>;
}

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/**
 * A device (IP) that logged in successfully keeps its own budget this long after its last success (real
 * time, in the store). Under the in-process store's limit: it expires keys with setTimeout, whose delay
 * overflows past 24.8 days (and then fires at once).
 */
const KNOWN_IP_TTL_SECONDS = 20 * 24 * 3600;
/** Consecutive failures of an account are forgotten after a day without a success. */
const FAILURE_COUNT_TTL_SECONDS = 24 * 3600;
const NEVER_REJECT = 1_000_000_000;

/** The account key as stored: normalised, and hashed so no email sits in Redis. */
export function accountKey(account: string): string {
  return digest(account.trim().normalize("NFKC").toLowerCase());
}
const digest = (text: string) => createHash("sha256").update(text).digest("base64url").slice(0, 22);

/** Back-off of the n-th consecutive failure (n counted from 1): none for the free ones, then 1 s, 2 s, 4 s … up to the cap. */
export function backoffSeconds(failures: number, freeFailures: number, maxSeconds: number): number {
  if (failures < freeFailures) return 0;
  return Math.min(maxSeconds, 2 ** Math.min(failures - freeFailures, 30));
}

/**
 * rate-limiter-flexible has no clock of its own to inject, and its TTLs run on the store's time. So every
 * time-dependent decision here is made with the injected clock: keys carry the index of the clock window
 * they count (a new window is a new key), and store TTLs only collect old keys.
 */
export function createPasswordGuard(deps: {
  config: Config;
  clock: Clock;
  eventLog: Logger;
  /** The keyed stand-in for an email in log lines: the one LOGIN_FAILED carries, and erasure replaces. */
  logAccount: (email: string) => string;
  /** The thresholds in force, read on every check (a security policy update applies without a restart). */
  policy: () => LoginGuardPolicy;
}): PasswordGuard {
  const { config, clock, eventLog } = deps;
  let redis: LimiterRedis | undefined;
  let limiters: Record<"counter" | "free" | "known" | "slot" | "window", RateLimiterAbstract> | undefined;
  /**
   * Resolves once the Redis connection is ready (or its connect timeout passed): until then every limiter call would
   * go to the per-process insurance store, so the first checks of a fresh process would not see the shared budget.
   */
  let connected: Promise<void> = Promise.resolve();

  // Built on first use, so CLI commands that open a platform context never connect to Redis for it.
  const store = () => {
    if (limiters) return limiters;
    redis = config.redis.url ? openLimiterRedis(config) : undefined;
    if (redis) {
      const connection = redis;
      connected = new Promise<void>((resolve) => {
        if (connection.status === "ready") return resolve();
        const timer = setTimeout(resolve, config.redis.connectTimeoutMs);
        timer.unref();
        connection.once("ready", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const make = (name: string, duration: number) => {
      const local = new RateLimiterMemory({ keyPrefix: `pw:${name}`, points: NEVER_REJECT, duration });
      if (!redis) return local;
      // Redis down: the same budgets per process, never no budget at all.
      return new RateLimiterRedis({ storeClient: redis, keyPrefix: `pw:${name}`, points: NEVER_REJECT, duration, rejectIfRedisNotReady: true, insuranceLimiter: local });
    };
    limiters = {
      counter: make("fails", FAILURE_COUNT_TTL_SECONDS),
      // Free attempts taken since the account's last success (in flight or failed): their reservations.
      free: make("free", FAILURE_COUNT_TTL_SECONDS),
      known: make("known", KNOWN_IP_TTL_SECONDS),
      // Every slot is written with its own TTL (customDuration); this is only the store's default.
      slot: make("slot", 2 * 86_400),
      window: make("window", 2 * 24 * 3600),
    };
    return limiters;
  };

  const count = async (limiter: RateLimiterAbstract, key: string): Promise<number> => (await limiter.get(key))?.consumedPoints ?? 0;
  const add = async (limiter: RateLimiterAbstract, key: string, ttlSeconds?: number): Promise<number> => {
    try {
      const result = await limiter.consume(key, 1, ttlSeconds ? { customDuration: ttlSeconds } : {});
      return result.consumedPoints;
    } catch (outcome) {
      if (outcome instanceof RateLimiterRes) return outcome.consumedPoints;
      throw outcome;
    }
  };
  const windowIndex = (now: number, lengthMs: number) => Math.floor(now / lengthMs);

  return {
    async guardPasswordCheck(attempt, check) {
      const s = store();
      await connected;
      const policy = deps.policy();
      const now = clock.now();
      const account = accountKey(attempt.account);
      const ip = digest(attempt.ip);
      const day = windowIndex(now, DAY_MS);
      const ipDayKey = `ip:${ip}:${day}`;
      const pairKey = `pair:${account}:${ip}:${windowIndex(now, policy.pairWindowSeconds * 1000)}`;

      // Every budget is taken *before* the password is checked, by an atomic increment of the store, and handed
      // back when the attempt turns out not to be a failure. Reading first and counting after the check would let
      // concurrent guesses (each one waits for argon2) all pass the same reading: a burst would skip every limit.
      const undo = (limiter: RateLimiterAbstract, key: string) => limiter.reward(key, 1).catch(() => undefined);
      if ((await add(s.window, ipDayKey, Math.ceil(DAY_MS / 1000) * 2)) > policy.ipDailyFailures) {
        await undo(s.window, ipDayKey);
        const retryAfterSeconds = Math.max(1, Math.ceil(((day + 1) * DAY_MS - now) / 1000));
        eventLog.warn({ event: LogEvent.RATE_LIMIT_EXCEEDED, ip: attempt.ip, purpose: attempt.purpose, limit: "password_failures_per_ip_day" }, "password checks refused for this IP");
        return { ok: false, reason: "rate_limited", retryAfterSeconds };
      }
      const pairTaken = await add(s.window, pairKey, policy.pairWindowSeconds * 2);

      // Anti-lockout: an IP this account logged in from before is not held by the account's back-off
      // (which strangers' guesses drive); it only has its own, per-pair budget.
      const knownIp = (await count(s.known, `${account}:${ip}`)) > 0;
      let reserved = false; // this attempt holds one of the account's free attempts
      let accountBlocked = false;
      if (!knownIp) {
        const failures = await count(s.counter, account);
        if (failures < policy.freeFailures) {
          // A free attempt, reserved by the increment (its own key, so the failure count never counts reservations),
          // so a burst gets no more than the free ones.
          reserved = true;
          if ((await add(s.free, account)) > policy.freeFailures) {
            // Others took the last free ones first: this one goes through the back-off below.
            await undo(s.free, account);
            reserved = false;
          }
        }
        if (!reserved) {
          const delay = backoffSeconds(Math.max(failures, policy.freeFailures), policy.freeFailures, policy.backoffMaxSeconds);
          // One attempt per back-off window: the first to take the slot; concurrent ones find it taken.
          accountBlocked = delay > 0 && (await add(s.slot, `${account}:${delay}:${windowIndex(now, delay * 1000)}`, delay * 2)) > 1;
        }
      }
      if (pairTaken > policy.accountIpFailures || accountBlocked) {
        if (reserved) await undo(s.free, account);
        await Promise.all([undo(s.window, ipDayKey), ...(pairTaken > policy.accountIpFailures ? [] : [undo(s.window, pairKey)])]);
        // Same work as a real check, so the answer does not come back faster than a wrong password's.
        await verifyPassword(await dummyPasswordHash(), "azora-backoff");
        return { ok: false, reason: "backoff" };
      }

      let passed: boolean;
      try {
        passed = await check();
      } catch (error) {
        if (reserved) await undo(s.free, account);
        await Promise.all([undo(s.window, ipDayKey), undo(s.window, pairKey)]);
        throw error;
      }
      if (passed) {
        await Promise.all([s.counter.delete(account), s.free.delete(account), s.known.delete(`${account}:${ip}`).then(() => add(s.known, `${account}:${ip}`)), s.window.delete(pairKey), undo(s.window, ipDayKey)]);
        return { ok: true };
      }

      const [failuresNow, globalNow] = await Promise.all([
        add(s.counter, account),
        add(s.window, `global:${windowIndex(now, MINUTE_MS)}`, 120),
        // A failure that did not reserve a free attempt (from a known IP, or in back-off) uses one up all the same,
        // so the reservations never lag behind the failures and a later burst gets no more than the free ones left.
        reserved ? Promise.resolve(0) : add(s.free, account),
      ]);
      const nextDelay = backoffSeconds(failuresNow, policy.freeFailures, policy.backoffMaxSeconds);
      if (nextDelay > 0) {
        // This failure takes the current back-off window: the next guess waits for the next one.
        await add(s.slot, `${account}:${nextDelay}:${windowIndex(now, nextDelay * 1000)}`, nextDelay * 2);
        eventLog.warn(
          { event: LogEvent.ACCOUNT_LOCKED, account: deps.logAccount(attempt.account), ip: attempt.ip, purpose: attempt.purpose, failures: failuresNow, backoffSeconds: nextDelay },
          "account in back-off after repeated wrong passwords",
        );
      }
      if (globalNow === policy.globalFailuresPerMinute) {
        eventLog.warn({ event: LogEvent.SUSPICIOUS_ACTIVITY, kind: "password_spraying", failuresPerMinute: globalNow }, "failed password checks across accounts above the alert rate");
      }
      return { ok: false, reason: "wrong_password" };
    },
    async forgetFailures(accountName, clientIp) {
      const s = store();
      await connected;
      const account = accountKey(accountName);
      const pairKey = `pair:${account}:${digest(clientIp)}:${windowIndex(clock.now(), deps.policy().pairWindowSeconds * 1000)}`;
      // The back-off slots are keyed by the delay the failure count gives: with the count gone the delay is 0 and no slot is read.
      await Promise.all([s.counter.delete(account), s.free.delete(account), s.window.delete(pairKey)]);
    },
    degraded: () => redis !== undefined && redis.status !== "ready",
    async close() {
      if (redis) await redis.quit().catch(() => redis?.disconnect());
    },
  };
}
