import { readFile } from "node:fs/promises";
import type { Queryable } from "../../platform/db/db.ts";
import { createPolicyRepository } from "./policy.repository.ts";
import { defaultPolicyPath, parsePolicy, policySchema, type SecurityPolicy } from "./policy.ts";

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
 */
export async function readCurrentPolicy(db: Queryable): Promise<CurrentPolicy> {
  const stored = await createPolicyRepository(db).read();
  if (stored) {
    const parsed = policySchema.safeParse(stored.document);
    if (parsed.success) return { policy: parsed.data, source: "database", updatedAt: stored.updatedAt };
  }
  const defaults = parsePolicy(await readFile(defaultPolicyPath, "utf8"));
  if (!defaults.ok) throw new Error(`the shipped security policy is invalid: ${defaults.problems.join("; ")}`);
  return { policy: defaults.policy, source: "defaults", updatedAt: null };
}
