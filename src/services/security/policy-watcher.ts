import type { Config } from "../../platform/config.ts";
import type { Queryable } from "../../platform/db/db.ts";
import type { Logger } from "../../platform/logger.ts";
import { readCurrentPolicy, type CurrentPolicy } from "./current-policy.ts";
import { shippedPolicy, type SecurityPolicy } from "./policy.ts";
import { repeatAfter } from "../../platform/repeat.ts";

/** What the gateway's limiters apply: requests per window per client and group (0: the group is not limited). */
export interface RateLimitBudgets {
  windowSeconds: number;
  perGroup: { auth: number; read: number; write: number };
}

/** What the password guard applies (docs/auth-security.md). */
export interface LoginGuardPolicy {
  freeFailures: number;
  backoffMaxSeconds: number;
  /** The (account, IP) pair's window: `accountIpFailures` failures in it refuse that pair. */
  pairWindowSeconds: number;
  accountIpFailures: number;
  ipDailyFailures: number;
  globalFailuresPerMinute: number;
}

/**
 * The one place where the policy in force and the environment meet: a RATE_LIMIT_* or LOGIN_* variable that
 * is set pins its value; everything else comes from the policy (whose shipped defaults are
 * deployment/security/policy.yaml), so there is one source for each number.
 */
export function rateLimitBudgets(config: Config, policy: SecurityPolicy): RateLimitBudgets {
  const pinned = config.rateLimits;
  return {
    windowSeconds: pinned.windowSeconds ?? policy.rateLimits.windowSeconds,
    perGroup: {
      auth: pinned.perGroup.auth ?? policy.rateLimits.auth,
      read: pinned.perGroup.read ?? policy.rateLimits.read,
      write: pinned.perGroup.write ?? policy.rateLimits.write,
    },
  };
}

export function loginGuardPolicy(config: Config, policy: SecurityPolicy): LoginGuardPolicy {
  const pinned = config.loginGuard;
  return {
    freeFailures: pinned.freeFailures ?? policy.lockout.maxFailures,
    backoffMaxSeconds: pinned.backoffMaxSeconds ?? policy.lockout.lockSeconds,
    pairWindowSeconds: policy.lockout.windowSeconds,
    accountIpFailures: pinned.accountIpFailures,
    ipDailyFailures: pinned.ipDailyFailures,
    globalFailuresPerMinute: pinned.globalFailuresPerMinute,
  };
}

/**
 * Polls the policy in force every `intervalMs` (as the gateway polls the maintenance flag), so a
 * `azora security policies update` reaches every process within one interval without a restart. A failed
 * read keeps the last good policy: a database hiccup must not reset the limits to the defaults.
 */
export function createPolicyWatcher(deps: { db: Queryable; intervalMs: number; logger: Logger; initial: CurrentPolicy }) {
  let current = deps.initial;
  let stopRepeating: (() => void) | undefined;
  let lastProblem = "";
  const listeners: ((policy: SecurityPolicy) => void)[] = [];

  const poll = async () => {
    try {
      const next = await readCurrentPolicy(deps.db);
      const changed = next.updatedAt !== current.updatedAt || next.source !== current.source;
      current = next;
      if (changed) {
        deps.logger.info({ event: "security_policy_applied", source: next.source, updatedAt: next.updatedAt }, "security policy in force changed; applied");
        for (const listener of listeners) listener(next.policy);
      }
      lastProblem = "";
    } catch (error) {
      const problem = error instanceof Error ? error.message.slice(0, 200) : String(error);
      if (problem !== lastProblem) deps.logger.warn({ event: "security_policy_unreadable", problem }, "security policy could not be read; keeping the last one");
      lastProblem = problem;
    }
  };

  return {
    start(): void {
      stopRepeating = repeatAfter(deps.intervalMs, poll);
    },
    current: (): SecurityPolicy => current.policy,
    /** Called after each change that a poll saw (not for the initial policy). */
    onChange(listener: (policy: SecurityPolicy) => void): void {
      listeners.push(listener);
    },
    stop(): void {
      stopRepeating?.();
    },
  };
}

export type PolicyWatcher = ReturnType<typeof createPolicyWatcher>;

/** The policy in force at start: a database that cannot be read yet gives the shipped defaults (polling catches up). */
export async function initialPolicy(db: Queryable, logger: Logger): Promise<CurrentPolicy> {
  try {
    return await readCurrentPolicy(db);
  } catch (error) {
    logger.warn({ event: "security_policy_unreadable", problem: error instanceof Error ? error.message.slice(0, 200) : String(error) }, "security policy could not be read at start; using the shipped defaults");
    return { policy: shippedPolicy(), source: "defaults", updatedAt: null };
  }
}
