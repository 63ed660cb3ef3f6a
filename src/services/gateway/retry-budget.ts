/**
 * Retries may add at most `ratio` of the requests seen in the current window (and `minimum` per window, so a
 * quiet upstream can still be retried). Without a budget, retries multiply the load on a service that is
 * already failing (Envoy's retry budgets make the same trade).
 */
export function createRetryBudget(options: { windowMs: number; ratio: number; minimum: number; now: () => number }) {
  let windowStart = options.now();
  let requests = 0;
  let retries = 0;
  const roll = () => {
    const at = options.now();
    if (at - windowStart >= options.windowMs) {
      windowStart = at;
      requests = 0;
      retries = 0;
    }
  };
  return {
    /** Counts one first attempt. */
    request(): void {
      roll();
      requests += 1;
    },
    /** Takes one retry from the budget; false when the budget is spent. */
    tryRetry(): boolean {
      roll();
      if (retries >= Math.max(options.minimum, Math.floor(requests * options.ratio))) return false;
      retries += 1;
      return true;
    },
  };
}
