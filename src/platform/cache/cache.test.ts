import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { isCi } from "../config.ts";
import type { Cache } from "./cache.ts";
import { createMemoryCache } from "./memory.ts";
import { createRedisCache } from "./redis.ts";

const redisUrl = process.env.REDIS_URL;
if (!redisUrl && isCi()) throw new Error("CI=true but REDIS_URL is not set: the Redis cache cannot be tested.");

const implementations: [string, () => Promise<Cache>][] = [["memory", async () => createMemoryCache()]];
if (redisUrl) implementations.push(["redis", () => createRedisCache({ url: redisUrl, keyPrefix: `azora-test-${randomBytes(4).toString("hex")}:` })]);

describe.each(implementations)("%s cache", (_name, open) => {
  const opened: Cache[] = [];
  const cache = async () => {
    const instance = await open();
    opened.push(instance);
    return instance;
  };
  afterAll(async () => {
    for (const instance of opened) await instance.close();
  });

  it("stores, expires and deletes values", async () => {
    const store = await cache();
    await store.set("a", "1", 60);
    await store.set("b", "2", 1);
    expect(await store.get("a")).toBe("1");
    await store.del("a", "missing");
    expect(await store.get("a")).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await store.get("b")).toBeUndefined();
  });

  it("counts distinct recent members and forgets old ones", async () => {
    const store = await cache();
    await store.touch("seen", "u1", 1_000);
    await store.touch("seen", "u2", 5_000);
    await store.touch("seen", "u1", 6_000);
    await store.touch("seen", "u3", 2_000);
    expect(await store.countSince("seen", 4_000)).toBe(2);
    expect(await store.countSince("seen", 0)).toBe(2); // u3 was dropped by the previous call
    expect(await store.countSince("other", 0)).toBe(0);
  });
});
