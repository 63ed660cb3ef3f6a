/** closed: requests flow; open: refused at once; half_open: one probe at a time decides. */
export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  /** The rolling window over which the error rate is measured. */
  windowMs: number;
  /** Fewer requests than this in the window never open the breaker (one failure in two is not an outage). */
  minimumRequests: number;
  /** Share of failed requests in the window (0–1) that opens the breaker. */
  failureRatio: number;
  /** How long an open breaker refuses before it lets a probe through. */
  openMs: number;
  now: () => number;
}

export const defaultBreakerOptions: Omit<BreakerOptions, "now"> = { windowMs: 10_000, minimumRequests: 20, failureRatio: 0.5, openMs: 5_000 };

const BUCKETS = 10;

export type Admission = { ok: true; probe: boolean } | { ok: false; retryAfterSeconds: number };

export interface BreakerSnapshot {
  name: string;
  state: BreakerState;
  counts: { requests: number; failures: number; windowSeconds: number };
  lastTransition: string | null;
  nextProbe: string | null;
}

/**
 * A circuit breaker for one upstream. Outcomes are counted in ten buckets that together span the window,
 * so old outcomes fall out as time passes without keeping one entry per request.
 */
export function createCircuitBreaker(name: string, options: BreakerOptions, onTransition: (state: BreakerState) => void) {
  const bucketMs = options.windowMs / BUCKETS;
  const requests = new Array<number>(BUCKETS).fill(0);
  const failures = new Array<number>(BUCKETS).fill(0);
  let currentBucket = Math.floor(options.now() / bucketMs);
  let state: BreakerState = "closed";
  let lastTransition: number | undefined;
  let openedUntil = 0;
  let probeInFlight = false;

  /** Empties the buckets that the window has moved past since the last call. */
  const advance = (at: number) => {
    const bucket = Math.floor(at / bucketMs);
    for (let b = currentBucket + 1; b <= bucket && b <= currentBucket + BUCKETS; b++) {
      requests[b % BUCKETS] = 0;
      failures[b % BUCKETS] = 0;
    }
    if (bucket > currentBucket) currentBucket = bucket;
  };
  const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
  const transition = (next: BreakerState, at: number) => {
    state = next;
    lastTransition = at;
    if (next === "open") openedUntil = at + options.openMs;
    if (next === "closed") {
      requests.fill(0);
      failures.fill(0);
    }
    onTransition(next);
  };

  return {
    name,
    /** Whether a request may go to the upstream now; a half-open breaker admits one probe at a time. */
    admit(): Admission {
      const at = options.now();
      if (state === "open" && at >= openedUntil) transition("half_open", at);
      if (state === "closed") return { ok: true, probe: false };
      if (state === "half_open" && !probeInFlight) {
        probeInFlight = true;
        return { ok: true, probe: true };
      }
      const waitMs = state === "open" ? openedUntil - at : options.openMs;
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    },
    /** The outcome of an admitted request. A probe's outcome closes or re-opens the breaker. */
    record(success: boolean, probe: boolean): void {
      const at = options.now();
      if (probe) {
        probeInFlight = false;
        transition(success ? "closed" : "open", at);
        return;
      }
      if (state !== "closed") return;
      advance(at);
      requests[currentBucket % BUCKETS]! += 1;
      if (!success) failures[currentBucket % BUCKETS]! += 1;
      const total = sum(requests);
      if (!success && total >= options.minimumRequests && sum(failures) / total >= options.failureRatio) transition("open", at);
    },
    state: () => state,
    snapshot(): BreakerSnapshot {
      const at = options.now();
      advance(at);
      return {
        name,
        state,
        counts: { requests: sum(requests), failures: sum(failures), windowSeconds: options.windowMs / 1000 },
        lastTransition: lastTransition === undefined ? null : new Date(lastTransition).toISOString(),
        nextProbe: state === "open" ? new Date(openedUntil).toISOString() : null,
      };
    },
  };
}

export type CircuitBreaker = ReturnType<typeof createCircuitBreaker>;

/** The gauge's number for a state: 0 closed, 1 half-open, 2 open. */
export const breakerStateValue: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
