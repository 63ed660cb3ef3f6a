import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.ts";
import { openLimiterRedis } from "./limiter-redis.ts";

describe("the rate limiters' Redis connection", () => {
  it("is bounded by REDIS_COMMAND_TIMEOUT_MS and REDIS_CONNECT_TIMEOUT_MS, as the cache is", () => {
    // Port 1 answers nothing: only the client's settings are under test, not a connection.
    const result = loadConfig({ REDIS_URL: "redis://127.0.0.1:1", REDIS_COMMAND_TIMEOUT_MS: "1234", REDIS_CONNECT_TIMEOUT_MS: "4321" });
    if (!result.ok) throw new Error(result.problems.join("; "));
    const redis = openLimiterRedis(result.config);
    try {
      expect(redis.options.commandTimeout).toBe(1234);
      expect(redis.options.connectTimeout).toBe(4321);
      expect(redis.options.enableOfflineQueue).toBe(false);
    } finally {
      redis.disconnect();
    }
  });
});
