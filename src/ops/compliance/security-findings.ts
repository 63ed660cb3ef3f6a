import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { PlatformContext } from "../../platform/context.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { opsPortCheck, secretValueChecks, trustedProxiesCheck } from "../../services/security/audit/config-checks.ts";
import { adminChecks, signingKeyAgeCheck } from "../../services/security/audit/database-checks.ts";
import { secretsDirChecks } from "../../services/security/audit/file-checks.ts";
import type { CheckOutcome } from "../../services/security/audit/finding.ts";
import { forEachLogLine, lineTime } from "../incidents/log-window.ts";
import type { Control } from "./controls.ts";

/** SUSPICIOUS_ACTIVITY raised this recently is still open: nothing closes it but a review, and the report asks for one. */
export const SUSPICIOUS_OPEN_DAYS = 7;
const networkPolicyFile = fileURLToPath(new URL("../../../deployment/kubernetes/base/network-policies.yaml", import.meta.url));

/** SUSPICIOUS_ACTIVITY lines of security.log (live and rotated) since `since`, counted by detector. */
async function suspiciousActivity(logDir: string, since: number): Promise<Map<string, number>> {
  const byDetector = new Map<string, number>();
  await forEachLogLine(logDir, "security", (line) => {
    if (!line.includes(`"event":"${LogEvent.SUSPICIOUS_ACTIVITY}"`)) return;
    const time = lineTime(line);
    if (time === undefined || time < since) return;
    let detector = "unknown";
    try {
      detector = String((JSON.parse(line) as { detector?: unknown }).detector ?? "unknown");
    } catch {
      // A torn line still counts, under "unknown".
    }
    byDetector.set(detector, (byDetector.get(detector) ?? 0) + 1);
  });
  return byDetector;
}

/**
 * Open security findings: the checks of `azora security audit` that need no network (secrets, their files,
 * the ops port, trusted proxies, signing-key age, admin accounts; live headers and Kubernetes manifests are
 * that command's) and the SUSPICIOUS_ACTIVITY events of the last days. A high finding fails the control;
 * a medium one or recent suspicious activity is a warning to review.
 */
export async function securityFindingsControl(context: PlatformContext): Promise<Control> {
  const { config, db } = context;
  const now = context.clock.now();
  const outcomes: CheckOutcome[] = [
    secretValueChecks(config),
    await secretsDirChecks(config.paths.secrets, now),
    // The process's own environment, as `azora security audit` reads it: whether it runs in a Kubernetes pod.
    opsPortCheck(config, process.env, await readFile(networkPolicyFile, "utf8").catch(() => undefined)),
    trustedProxiesCheck(config),
    await signingKeyAgeCheck(db, now),
    await adminChecks(db, now),
  ];
  const findings = outcomes.flatMap((outcome) => outcome.findings);
  const high = findings.filter((finding) => finding.severity === "high");
  const medium = findings.filter((finding) => finding.severity === "medium");
  const suspicious = await suspiciousActivity(config.paths.logs, now - SUSPICIOUS_OPEN_DAYS * 86_400_000);
  const suspiciousTotal = [...suspicious.values()].reduce((sum, count) => sum + count, 0);
  const parts = [
    findings.length === 0 ? "Security audit (offline checks): no findings." : `Security audit (offline checks): ${high.length} high, ${medium.length} medium, ${findings.length - high.length - medium.length} low — ${findings.map((finding) => `${finding.severity} ${finding.check}: ${finding.title}`).join("; ")}.`,
    suspiciousTotal === 0
      ? `No SUSPICIOUS_ACTIVITY in security.log in the last ${SUSPICIOUS_OPEN_DAYS} days.`
      : `${suspiciousTotal} SUSPICIOUS_ACTIVITY event${suspiciousTotal === 1 ? "" : "s"} in the last ${SUSPICIOUS_OPEN_DAYS} days (${[...suspicious].map(([detector, count]) => `${detector} ${count}`).join(", ")}): review them (grep SUSPICIOUS_ACTIVITY security.log; azora security forensics ID --since 7d gives a timeline).`,
  ];
  if (high.length > 0) parts.push("Run azora security audit for the evidence and the fix of each.");
  return { id: "security-findings", title: "Open security findings", state: high.length > 0 ? "fail" : medium.length > 0 || suspiciousTotal > 0 ? "warn" : "pass", detail: parts.join(" ") };
}
