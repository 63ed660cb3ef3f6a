/** Injected wherever time decides an outcome, so expiry and retention are tested without sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
