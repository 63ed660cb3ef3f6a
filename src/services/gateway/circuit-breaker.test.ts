import { describe, expect, it } from "vitest";
import { createCircuitBreaker, defaultBreakerOptions, type BreakerState } from "./circuit-breaker.ts";
import { createRetryBudget } from "./retry-budget.ts";

function breakerAt(start = 1_000_000) {
  let now = start;
  const transitions: BreakerState[] = [];
  const breaker = createCircuitBreaker("users", { ...defaultBreakerOptions, now: () => now }, (state) => transitions.push(state));
  return { breaker, transitions, advance: (ms: number) => (now += ms) };
}

const outcome = (breaker: ReturnType<typeof breakerAt>["breaker"], success: boolean) => {
  const admission = breaker.admit();
  if (!admission.ok) throw new Error("refused");
  breaker.record(success, admission.probe);
};

describe("circuit breaker", () => {
  it("stays closed below the minimum volume, even when every request fails", () => {
    const { breaker } = breakerAt();
    for (let i = 0; i < 19; i++) outcome(breaker, false);
    expect(breaker.state()).toBe("closed");
  });

  it("opens on the error rate over the window, refuses at once, then lets one probe through", () => {
    const { breaker, transitions, advance } = breakerAt();
    for (let i = 0; i < 10; i++) outcome(breaker, true);
    for (let i = 0; i < 10; i++) outcome(breaker, false);
    expect(breaker.state()).toBe("open");
    const refused = breaker.admit();
    expect(refused).toEqual({ ok: false, retryAfterSeconds: 5 });
    expect(breaker.snapshot()).toMatchObject({ state: "open", counts: { requests: 20, failures: 10 }, nextProbe: expect.any(String) });

    advance(5_000);
    const probe = breaker.admit();
    expect(probe).toEqual({ ok: true, probe: true });
    expect(breaker.admit().ok).toBe(false); // one probe at a time
    breaker.record(false, true);
    expect(breaker.state()).toBe("open");

    advance(5_000);
    const second = breaker.admit();
    expect(second).toEqual({ ok: true, probe: true });
    breaker.record(true, true);
    expect(breaker.state()).toBe("closed");
    expect(breaker.snapshot().counts.requests).toBe(0);
    expect(transitions).toEqual(["open", "half_open", "open", "half_open", "closed"]);
  });

  it("forgets failures older than the window", () => {
    const { breaker, advance } = breakerAt();
    for (let i = 0; i < 15; i++) outcome(breaker, false);
    advance(11_000);
    for (let i = 0; i < 15; i++) outcome(breaker, i % 3 === 0 ? false : true);
    expect(breaker.state()).toBe("closed");
    expect(breaker.snapshot().counts).toMatchObject({ requests: 15, failures: 5 });
  });
});

describe("retry budget", () => {
  it("allows the minimum, then a share of the requests, and starts over each window", () => {
    let now = 0;
    const budget = createRetryBudget({ windowMs: 10_000, ratio: 0.2, minimum: 3, now: () => now });
    for (let i = 0; i < 50; i++) budget.request();
    const granted = Array.from({ length: 20 }, () => budget.tryRetry()).filter(Boolean).length;
    expect(granted).toBe(10);
    now += 10_000;
    budget.request();
    expect([budget.tryRetry(), budget.tryRetry(), budget.tryRetry(), budget.tryRetry()]).toEqual([true, true, true, false]);
  });
});
