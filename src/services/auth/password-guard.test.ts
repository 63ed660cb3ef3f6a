import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { Config } from "../../platform/config.ts";
import type { LoginGuardPolicy } from "../security/policy-watcher.ts";
import { createPasswordGuard, type GuardVerdict } from "./password-guard.ts";

/**
 * Concurrency of the one password limiter (in-process store): every check waits for argon2, so a burst of
 * guesses arrives before the first one is counted. Each budget must still admit only as many checks as it holds.
 */
function guardWithStore(redisUrl: string | undefined, keyPrefix: string, policy: Partial<LoginGuardPolicy>) {
  const clock = { now: () => Date.UTC(2026, 10, 29, 12, 0, 0) };
  const full: LoginGuardPolicy = { freeFailures: 1000, backoffMaxSeconds: 900, pairWindowSeconds: 900, accountIpFailures: 1000, ipDailyFailures: 1000, globalFailuresPerMinute: 1_000_000, ...policy };
  const guard = createPasswordGuard({
    config: { redis: { url: redisUrl, keyPrefix, commandTimeoutMs: 5_000, connectTimeoutMs: 5_000 } } as unknown as Config,
    clock,
    eventLog: pino({ enabled: false }),
    logAccount: () => "acct",
    policy: () => full,
  });
  let checks = 0;
  // A wrong password that takes a while to check, as argon2 does.
  const wrong = async () => {
    checks++;
    await new Promise((resolve) => setTimeout(resolve, 50));
    return false;
  };
  const burst = (n: number, ip: (i: number) => string = () => "203.0.113.7") =>
    Promise.all(Array.from({ length: n }, (_, i) => guard.guardPasswordCheck({ account: "victim@example.com", ip: ip(i), purpose: "login" }, wrong)));
  return { guard, burst, checks: () => checks };
}

const reasons = (verdicts: GuardVerdict[]) => verdicts.map((v) => (v.ok ? "ok" : v.reason)).sort();

// The in-process store always; the Redis store (atomic INCR, as every replica shares it) when REDIS_URL is set.
const stores = [{ name: "memory", url: undefined as string | undefined }, ...(process.env.REDIS_URL ? [{ name: "redis", url: process.env.REDIS_URL }] : [])];

describe.each(stores)("password guard under concurrent guesses ($name store)", ({ url }) => {
  const keyPrefix = `azora-test-guard-${randomBytes(6).toString("hex")}:`;
  const guardWith = (policy: Partial<LoginGuardPolicy>) => guardWithStore(url, keyPrefix + randomBytes(3).toString("hex") + ":", policy);
  afterAll(async () => {
    if (!url) return;
    const redis = new Redis(url);
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it("checks no more passwords than the account's free failures, then one per back-off window", async () => {
    const { guard, burst, checks } = guardWith({ freeFailures: 3 });
    const verdicts = await burst(12, (i) => `198.51.100.${i}`);
    // 3 free failures, and the first back-off window (1 s) admits one more: at most 4 of 12 were checked.
    expect(checks()).toBe(4);
    expect(reasons(verdicts).filter((r) => r === "backoff").length).toBe(12 - checks());
    await guard.close();
  });

  it("counts failures from a known IP against the free attempts a later burst from elsewhere can take", async () => {
    const { guard, burst, checks } = guardWith({ freeFailures: 3 });
    const owner = { account: "victim@example.com", ip: "192.0.2.1", purpose: "login" };
    expect(await guard.guardPasswordCheck(owner, async () => true)).toEqual({ ok: true });
    // Two wrong passwords from the owner's known IP: one free attempt is left.
    for (let i = 0; i < 2; i++) expect(await guard.guardPasswordCheck(owner, async () => false)).toEqual({ ok: false, reason: "wrong_password" });
    await burst(10, (i) => `198.51.100.${i}`);
    // The one free attempt left and the first back-off window: 2 of 10 checked.
    expect(checks()).toBe(2);
    await guard.close();
  });

  it("checks no more passwords than one (account, IP) pair's budget", async () => {
    const { guard, burst, checks } = guardWith({ accountIpFailures: 3 });
    const verdicts = await burst(10);
    expect(checks()).toBe(3);
    expect(reasons(verdicts)).toEqual([...Array(7).fill("backoff"), ...Array(3).fill("wrong_password")]);
    await guard.close();
  });

  it("checks no more passwords than one IP's daily budget, then answers rate_limited", async () => {
    const { guard, burst, checks } = guardWith({ ipDailyFailures: 4 });
    const verdicts = await burst(10);
    expect(checks()).toBe(4);
    expect(reasons(verdicts)).toEqual([...Array(6).fill("rate_limited"), ...Array(4).fill("wrong_password")]);
    await guard.close();
  });
});
