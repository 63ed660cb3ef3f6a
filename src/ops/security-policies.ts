import { stringify } from "yaml";
import { z } from "zod";
import type { PlatformCommand } from "../platform/command.ts";
import { cliActor, recordAudit } from "../platform/audit/audit.service.ts";
import { LogEvent } from "../platform/log-events.ts";
import { readCurrentPolicy } from "../services/security/current-policy.ts";
import { createPolicyRepository } from "../services/security/policy.repository.ts";
import { parsePolicy, shippedPolicy } from "../services/security/policy.ts";

const args = z.discriminatedUnion("action", [
  z.object({ action: z.literal("show"), json: z.boolean().default(false) }),
  // The file is read by the CLI (it may run on another machine than the process that owns the database).
  z.object({ action: z.literal("update"), text: z.string().max(1_000_000), source: z.string().max(1000), dryRun: z.boolean().default(false), json: z.boolean().default(false) }),
]);
export type PoliciesArgs = z.input<typeof args>;

/**
 * `azora security policies show|update FILE`: the policy lives in the database, so every process that
 * polls it (readCurrentPolicy) follows an update without a restart. An invalid file changes nothing and
 * every problem is listed (exit 2).
 */
export const securityPoliciesCommand: PlatformCommand<PoliciesArgs> = {
  name: "security-policies",
  async run(context, rawArgs, io) {
    const parsed = args.safeParse(rawArgs);
    if (!parsed.success) {
      io.err("Usage: azora security policies show [--json] | update FILE [--dry-run] [--json]");
      return 2;
    }
    const request = parsed.data;
    if (request.action === "show") {
      const current = await readCurrentPolicy(context.db);
      if (request.json) io.out(JSON.stringify(current));
      else {
        io.out(`# security policy in force: ${current.source === "database" ? `stored ${current.updatedAt}` : "the shipped defaults (none stored yet)"}`);
        io.out(stringify(current.policy).trimEnd());
      }
      return 0;
    }
    const result = parsePolicy(request.text);
    if (!result.ok) {
      if (request.json) io.out(JSON.stringify({ ok: false, problems: result.problems }));
      io.err(`${request.source} is not a valid security policy (${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}); nothing was changed:`);
      for (const problem of result.problems) io.err(`  - ${problem}`);
      return 2;
    }
    if (request.dryRun) {
      if (request.json) io.out(JSON.stringify({ ok: true, dryRun: true, policy: result.policy }));
      else io.out(`${request.source} is valid; nothing was changed (--dry-run).`);
      return 0;
    }
    const repository = createPolicyRepository(context.db);
    const before = await repository.read();
    const stored = await repository.write(result.policy, request.source);
    // Who changed which limits, and from what: an update loosens or tightens every process at once.
    await recordAudit(context, {
      actor: io.actor ?? cliActor(),
      action: "security.policy.update",
      target: "security-policy",
      details: { source: request.source, version: result.policy.version, previous: before ? before.updatedAt : "shipped defaults", changed: changedPaths(before?.document ?? shippedPolicy(), result.policy) },
    });
    context.logs.security.info({ event: LogEvent.SECURITY_POLICY_UPDATED, source: request.source, version: result.policy.version, actor: "cli" }, "security policy updated");
    if (request.json) io.out(JSON.stringify({ ok: true, dryRun: false, updatedAt: stored.updatedAt, policy: result.policy }));
    else io.out(`Security policy from ${request.source} stored at ${stored.updatedAt}; processes that poll it follow within seconds.`);
    return 0;
  },
};

/** The dotted paths whose value differs between two policy documents (what the audit row says changed). */
export function changedPaths(before: unknown, after: unknown, prefix = ""): string[] {
  if (before !== null && after !== null && typeof before === "object" && typeof after === "object" && !Array.isArray(before) && !Array.isArray(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => changedPaths((before as Record<string, unknown>)[key], (after as Record<string, unknown>)[key], prefix ? `${prefix}.${key}` : key));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix || "(document)"];
}
