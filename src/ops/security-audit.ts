import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import { opsPortCheck, secretValueChecks, trustedProxiesCheck } from "../services/security/audit/config-checks.ts";
import { adminChecks, signingKeyAgeCheck } from "../services/security/audit/database-checks.ts";
import { secretsDirChecks } from "../services/security/audit/file-checks.ts";
import type { AuditFinding, CheckOutcome, NotChecked } from "../services/security/audit/finding.ts";
import { kubernetesChecks } from "../services/security/audit/kubernetes-checks.ts";
import { liveHeaderChecks } from "../services/security/audit/live-checks.ts";
import { npmAuditCheck } from "../services/security/audit/npm-audit.ts";

export const projectDir = fileURLToPath(new URL("../../", import.meta.url));
const shippedKubernetesDir = fileURLToPath(new URL("../../deployment/kubernetes", import.meta.url));

const args = z.object({
  /** The gateway to probe; default: this process's own public port on loopback. */
  url: z.string().url().max(2000).optional(),
  json: z.boolean().default(false),
  skipNpmAudit: z.boolean().default(false),
  skipKubernetes: z.boolean().default(false),
  /** Absolute (the CLI resolves it): the process that runs the audit may have another working directory. */
  kubernetesDir: z.string().max(4000).optional(),
});
export type SecurityAuditArgs = z.input<typeof args>;

const severityOrder = { high: 0, medium: 1, low: 2 } as const;
const loopbackProxies = new Set(["loopback", "127.0.0.1", "::1", "127.0.0.0/8", "::1/128"]);

/**
 * `azora security audit`: this deployment's configuration, files, database and live answers checked against
 * what docs/security-operations.md expects. Each finding has a severity, its evidence and the fix; a check
 * that could not run is listed as not checked, never as passed. Exit 1 on any high finding.
 */
export const securityAuditCommand: PlatformCommand<SecurityAuditArgs> = {
  name: "security-audit",
  async run(context, rawArgs, io) {
    const parsed = args.safeParse(rawArgs);
    if (!parsed.success) {
      io.err("Usage: azora security audit [--url URL] [--skip-npm-audit] [--skip-kubernetes] [--kubernetes-dir DIR] [--json]");
      return 2;
    }
    const { config, db } = context;
    const request = { ...parsed.data, url: parsed.data.url ?? `http://127.0.0.1:${config.gateway.port}` };
    const now = context.clock.now();
    const kubernetesDir = request.kubernetesDir ?? shippedKubernetesDir;
    const networkPolicy = await readFile(`${kubernetesDir}/base/network-policies.yaml`, "utf8").catch(() => undefined);
    const auditorIsTrusted = config.trustedProxies.some((entry) => loopbackProxies.has(entry)) && ["127.0.0.1", "localhost", "[::1]"].includes(new URL(request.url).hostname);

    const outcomes: CheckOutcome[] = [
      secretValueChecks(config),
      await secretsDirChecks(config.paths.secrets, now),
      opsPortCheck(config, process.env, networkPolicy),
      trustedProxiesCheck(config),
      await liveHeaderChecks(request.url, { proxyTrustsAuditor: auditorIsTrusted }),
      await signingKeyAgeCheck(db, now),
      await adminChecks(db, now),
      await npmAuditCheck(projectDir, request.skipNpmAudit),
      request.skipKubernetes ? { findings: [], notChecked: [{ check: "kubernetes_security_context", reason: "skipped (--skip-kubernetes)" }] } : await kubernetesChecks(kubernetesDir),
    ];
    if (!auditorIsTrusted) outcomes.push({ findings: [], notChecked: [{ check: "hsts", reason: "this auditor's address is not a trusted proxy, so HSTS (sent only for requests a trusted proxy says came over TLS) cannot be probed from here" }] });
    const findings = outcomes.flatMap((result) => result.findings).sort((a, b) => severityOrder[a.severity] - severityOrder[b.severity]);
    const notChecked = outcomes.flatMap((result) => result.notChecked);
    const counts = { high: 0, medium: 0, low: 0 };
    for (const finding of findings) counts[finding.severity]++;
    if (request.json) io.out(JSON.stringify({ url: request.url, environment: config.environment, counts, findings, notChecked }));
    else printReport(io, request.url, findings, notChecked, counts);
    return counts.high > 0 ? 1 : 0;
  },
};

function printReport(io: CommandIO, url: string, findings: AuditFinding[], notChecked: NotChecked[], counts: Record<AuditFinding["severity"], number>): void {
  io.out(`# Security audit of ${url}: ${counts.high} high, ${counts.medium} medium, ${counts.low} low`);
  for (const finding of findings) {
    io.out(`${finding.severity.toUpperCase().padEnd(6)} ${finding.check}: ${finding.title}`);
    io.out(`       evidence: ${finding.evidence}`);
    io.out(`       fix: ${finding.fix}`);
  }
  if (findings.length === 0) io.out("No findings.");
  for (const item of notChecked) io.out(`NOT CHECKED ${item.check}: ${item.reason}`);
}
