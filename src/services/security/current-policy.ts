import type { Queryable } from "../../platform/db/db.ts";
import { createPolicyRepository } from "./policy.repository.ts";
import { policySchema, shippedPolicy, type SecurityPolicy } from "./policy.ts";

/** The policy in force and where it came from. */
export interface CurrentPolicy {
  policy: SecurityPolicy;
  source: "database" | "defaults";
  updatedAt: string | null;
}

/**
 * The policy in force: the one stored by `azora security policies update`, else the shipped defaults.
 * This is the seam for processes that apply thresholds (login throttling, lockout): poll it every few
 * seconds, as the gateway polls the maintenance flag, and keep the last good value when a read fails.
 * A stored document that no longer validates (a newer schema written by a newer version) is not used.
 * The shipped defaults are parsed once per process (they are part of the installed version): parsing the
 * YAML on every poll held the event loop for milliseconds every two seconds (docs/adr/0550).
 */
export async function readCurrentPolicy(db: Queryable): Promise<CurrentPolicy> {
  const stored = await createPolicyRepository(db).read();
  if (stored) {
    const parsed = policySchema.safeParse(stored.document);
    if (parsed.success) return { policy: parsed.data, source: "database", updatedAt: stored.updatedAt };
  }
  return { policy: shippedPolicy(), source: "defaults", updatedAt: null };
}
