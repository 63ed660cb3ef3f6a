/**
 * A budget for failures that are expected to pass (an API server restarting, a dropped connection): the
 * work goes on while failures stay within `maxFailures` in a row and within `withinMs` of the first of
 * them; past either, the last error is thrown. One success resets it.
 */
export class TransientBudget {
  private failures = 0;
  private firstFailureAt = 0;

  constructor(
    private readonly what: string,
    private readonly limits: { maxFailures: number; withinMs: number },
    private readonly report: (text: string) => void,
  ) {}

  succeeded(): void {
    if (this.failures > 0) this.report(`  ${this.what} answered again after ${this.failures} failed attempt(s)`);
    this.failures = 0;
  }

  /** Counts `error`; throws it (with what was tolerated) once the budget is spent. */
  failed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (this.failures === 0) this.firstFailureAt = Date.now();
    this.failures++;
    const spent = this.failures > this.limits.maxFailures || Date.now() - this.firstFailureAt > this.limits.withinMs;
    if (spent) throw new Error(`${message} (${this.failures} failures in a row over ${Math.round((Date.now() - this.firstFailureAt) / 1000)} s: no longer taken for a passing problem)`);
    this.report(`  ${this.what} failed (${message.trim().split("\n")[0]}); tolerated ${this.failures} of ${this.limits.maxFailures} in a row, trying again`);
  }
}

/** The budget of the deploy's polls and waits: five failures in a row, within a minute. */
export const transientLimits = { maxFailures: 5, withinMs: 60_000 };
