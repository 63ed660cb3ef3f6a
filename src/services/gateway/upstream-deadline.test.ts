import { describe, expect, it } from "vitest";
import { sharedDeadlines } from "./upstream.ts";

describe("shared exchange deadlines", () => {
  it("shares one signal within a slot, never sets a deadline past start + timeout, and starts a new slot after it", () => {
    let now = 1_000_000;
    const next = sharedDeadlines(10_000, () => now);
    const first = next();
    expect(first.deadline).toBe(now + 10_000);
    now += 49; // the slot is 1/20 of the timeout, at most 50 ms
    const second = next();
    expect(second.signal).toBe(first.signal);
    expect(second.deadline).toBeLessThanOrEqual(now + 10_000);
    now += 1;
    const third = next();
    expect(third.signal).not.toBe(first.signal);
    expect(third.deadline).toBe(now + 10_000);
  });

  it("aborts every exchange of the slot when the deadline passes, without a listener warning", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const { signal } = sharedDeadlines(20)();
      const aborted = Array.from({ length: 50 }, () => new Promise<unknown>((resolve) => signal.addEventListener("abort", () => resolve(signal.reason), { once: true })));
      const reasons = await Promise.all(aborted);
      expect(reasons.every((reason) => (reason as Error).name === "TimeoutError")).toBe(true);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((warning) => warning.name === "MaxListenersExceededWarning")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
