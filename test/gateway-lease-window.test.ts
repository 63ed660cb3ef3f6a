import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { isCi } from "../src/platform/config.ts";
import { createLeasedBudget } from "../src/services/gateway/leased-budget.ts";

const redisUrl = process.env.REDIS_URL;
if (!redisUrl && isCi()) throw new Error("CI=true but REDIS_URL is not set: the leased budget needs a real Redis.");

/**
 * What happens to the points of a lease that a process did not use when its window ends (ADR 0180: they are
 * not returned). Two processes share one client's budget in a real Redis: the unused points neither shrink
 * the next window's budget nor carry over into it.
 */
describe.skipIf(!redisUrl)("leased budgets at the end of a window", () => {
  const connections: Redis[] = [];
  const connect = () => {
    const redis = new Redis(redisUrl ?? "", { keyPrefix: `test:lease:${randomUUID()}:`, maxRetriesPerRequest: 0 });
    connections.push(redis);
    return redis;
  };
  afterAll(() => {
    for (const redis of connections) redis.disconnect();
  });

  const admitted = async (budget: ReturnType<typeof createLeasedBudget>, key: string, tries: number) => {
    let count = 0;
    for (let index = 0; index < tries; index++) if ((await budget.consume(key)).allowed) count++;
    return count;
  };

  it("starts the next window with the whole budget, and the old lease's points are not admitted in it", async () => {
    const limit = 64;
    // Long enough that the whole of the next window's use fits in it on a loaded machine.
    const windowMs = 3_000;
    const prefix = "rl:read";
    const shared = connect();
    // Connected first: a budget forgets its leases on "ready" (a reconnect), which must not happen mid-test.
    await shared.ping();
    const first = createLeasedBudget(shared, { keyPrefix: prefix, limit, windowMs });
    const second = createLeasedBudget(shared, { keyPrefix: prefix, limit, windowMs });
    const key = "client-1";
    try {
      // The first process takes one request out of a lease of two and keeps one point unused.
      expect((await first.consume(key)).allowed).toBe(true);
      const heldUntil = Date.now() + windowMs;
      expect(await shared.get(`${prefix}:${key}`)).toBe("2");
      // The window ends; its counter (and with it what the first process held) goes away.
      while (Date.now() < heldUntil + 100 || (await shared.exists(`${prefix}:${key}`)) === 1) await new Promise((resolve) => setTimeout(resolve, 50));
      // The next window: both processes together admit the whole budget and not one request more.
      const bySecond = await admitted(second, key, limit - 10);
      const byFirst = await admitted(first, key, 20);
      expect(bySecond + byFirst).toBe(limit);
      expect(Number(await shared.get(`${prefix}:${key}`))).toBe(limit);
    } finally {
      first.close();
      second.close();
    }
  });
});
