import type { Clock } from "../../src/platform/clock.ts";
import type { Backend } from "./backends.ts";
import { startTestPlatform, type TestPlatform } from "./platform.ts";

/** A clock the test moves by hand: expiry, grace intervals and audit times without sleeping. */
export interface ManualClock extends Clock {
  advance(ms: number): void;
}

export function manualClock(start = Date.now()): ManualClock {
  let offset = 0;
  // Real time still flows (timers and databases run on it); the test adds jumps on top.
  return { now: () => start + (Date.now() - start) + offset, advance: (ms) => void (offset += ms) };
}

/** The whole platform in this process, as `azora up` runs it, on the given clock. */
export function startClockedPlatform(backend: Backend, clock: Clock, extraEnv: Record<string, string> = {}): Promise<TestPlatform> {
  return startTestPlatform(backend, extraEnv, { clock });
}
