import type { CommandIO } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { defaultPolicyPath, loadPolicyFile, policySchema, shippedPolicy, type PolicyResult } from "../services/security/policy.ts";
import { runPlatformCommand } from "./run-platform-command.ts";
import { securityPoliciesCommand } from "./security-policies.ts";

/**
 * The thresholds a detector run uses: the file given with --policy, else the policy in force (the one
 * `azora security policies update` stored, read where the data's owner is, as `policies show` does), so
 * the detectors and the running limiters follow one policy. Where no database can be read (a copy of the
 * logs on another machine, no data directory yet), the shipped defaults are used and stderr says so.
 */
export async function detectorPolicy(config: Config, file: string | undefined, io: CommandIO): Promise<PolicyResult> {
  if (file !== undefined) return loadPolicyFile(file);
  const out: string[] = [];
  const err: string[] = [];
  let reason: string;
  try {
    const code = await runPlatformCommand(config, securityPoliciesCommand, { action: "show", json: true }, { out: (text) => out.push(text), err: (text) => err.push(text) });
    if (code === 0) {
      const parsed = policySchema.safeParse((JSON.parse(out.join("\n")) as { policy?: unknown }).policy);
      if (parsed.success) return { ok: true, policy: parsed.data };
      reason = "the stored policy does not validate";
    } else reason = err.join(" ").trim().slice(0, 300) || `exit ${code}`;
  } catch (error) {
    reason = error instanceof Error ? error.message.split("\n")[0]!.slice(0, 300) : String(error);
  }
  io.err(`The policy in force could not be read (${reason}); using the shipped defaults (${defaultPolicyPath}). Give --policy FILE to choose the thresholds.`);
  return { ok: true, policy: shippedPolicy() };
}
