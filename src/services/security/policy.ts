import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { z } from "zod";

const seconds = z.number().int().min(1).max(30 * 86_400);
const count = z.number().int().min(1).max(1_000_000);
const v4Bits = z.number().int().min(8).max(32);
const v6Bits = z.number().int().min(16).max(128);

/** The security policy file (deployment/security/policy.yaml): every threshold in one versioned document. */
export const policySchema = z
  .object({
    version: z.literal(1),
    lockout: z.object({ maxFailures: count, windowSeconds: seconds, lockSeconds: seconds }).strict(),
    rateLimits: z.object({ windowSeconds: seconds, auth: count, read: count, write: count }).strict(),
    password: z.object({ minLength: z.number().int().min(8).max(128) }).strict(),
    anomalies: z
      .object({
        failedLoginBurst: z.object({ windowSeconds: seconds, perIp: count, perAccount: count }).strict(),
        passwordSpraying: z
          .object({ windowSeconds: seconds, minAccounts: z.number().int().min(2).max(1_000_000), maxTriesPerAccount: count, prefixBitsV4: v4Bits, prefixBitsV6: v6Bits })
          .strict(),
        credentialStuffing: z.object({ windowSeconds: seconds, minIps: z.number().int().min(2).max(1_000_000) }).strict(),
        impossibleTravel: z.object({ withinSeconds: seconds, prefixBitsV4: v4Bits, prefixBitsV6: v6Bits }).strict(),
        rateLimitViolators: z.object({ windowSeconds: seconds, minRefusals: count }).strict(),
        tokenReuse: z.object({ minEvents: count }).strict(),
      })
      .strict(),
    leaks: z
      .object({
        baselineDays: z.number().int().min(1).max(90),
        readFactor: z.number().min(1).max(1000),
        minReads: count,
        newUserMaxReads: count,
        gdprExports: z.object({ windowSeconds: seconds, max: count }).strict(),
        enumeration: z.object({ windowSeconds: seconds, minDistinctIds: z.number().int().min(2).max(1_000_000) }).strict(),
      })
      .strict(),
    access: z
      .object({
        businessHours: z
          .object({ start: z.number().int().min(0).max(23), end: z.number().int().min(1).max(24) })
          .strict()
          .refine((hours) => hours.start < hours.end, "start must be before end"),
        baselineDays: z.number().int().min(1).max(365),
        prefixBitsV4: v4Bits,
        prefixBitsV6: v6Bits,
      })
      .strict(),
  })
  .strict();

export type SecurityPolicy = z.infer<typeof policySchema>;
export type PolicyResult = { ok: true; policy: SecurityPolicy } | { ok: false; problems: string[] };

/** The defaults shipped with this version. */
export const defaultPolicyPath = fileURLToPath(new URL("../../../deployment/security/policy.yaml", import.meta.url));

/** Validates a policy document's text, listing every problem (path and what is wrong), not just the first. */
export function parsePolicy(text: string): PolicyResult {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    return { ok: false, problems: [`not valid YAML: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`] };
  }
  const parsed = policySchema.safeParse(document);
  if (parsed.success) return { ok: true, policy: parsed.data };
  return { ok: false, problems: parsed.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(document)"}: ${issue.message}`) };
}

/** Reads and validates a policy file; a missing or unreadable file is one problem. */
export async function loadPolicyFile(path: string): Promise<PolicyResult> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    return { ok: false, problems: [`${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`] };
  }
  const result = parsePolicy(text);
  return result.ok ? result : { ok: false, problems: result.problems.map((problem) => `${path}: ${problem}`) };
}

let shipped: SecurityPolicy | undefined;
/** The shipped defaults, read once (synchronously: a process that has no stored policy yet needs them at once). */
export function shippedPolicy(): SecurityPolicy {
  if (shipped) return shipped;
  const result = parsePolicy(readFileSync(defaultPolicyPath, "utf8"));
  if (!result.ok) throw new Error(`the shipped security policy is invalid: ${result.problems.join("; ")}`);
  shipped = result.policy;
  return shipped;
}
