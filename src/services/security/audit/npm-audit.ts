import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { outcome, type CheckOutcome } from "./finding.ts";

const run = promisify(execFile);

interface NpmAuditReport {
  metadata?: { vulnerabilities?: Record<string, number> };
}

/** The production dependencies' known vulnerabilities (`npm audit --omit=dev`), which needs the registry. */
export async function npmAuditCheck(projectDir: string, skip: boolean): Promise<CheckOutcome> {
  if (skip) return outcome([], [{ check: "npm_audit", reason: "skipped (--skip-npm-audit): the dependencies were not checked" }]);
  let text: string;
  try {
    text = (await run("npm", ["audit", "--omit=dev", "--json"], { cwd: projectDir, timeout: 60_000, maxBuffer: 32 * 1024 * 1024 })).stdout;
  } catch (error) {
    // npm audit exits 1 when it finds vulnerabilities; its JSON is still on stdout.
    text = (error as { stdout?: string }).stdout ?? "";
    if (!text.includes("\"metadata\"")) {
      const message = ((error as { stderr?: string }).stderr ?? String(error)).split("\n").find((line) => line.trim()) ?? "failed";
      return outcome([], [{ check: "npm_audit", reason: `npm audit could not run (${message.slice(0, 200)}); the dependencies were not checked` }]);
    }
  }
  const counts = (JSON.parse(text) as NpmAuditReport).metadata?.vulnerabilities ?? {};
  const summary = ["critical", "high", "moderate", "low"].map((level) => `${counts[level] ?? 0} ${level}`).join(", ");
  const serious = (counts.critical ?? 0) + (counts.high ?? 0);
  const any = serious + (counts.moderate ?? 0) + (counts.low ?? 0);
  if (any === 0) return outcome();
  return outcome([
    {
      check: "npm_audit",
      severity: serious > 0 ? "high" : "low",
      title: `production dependencies with known vulnerabilities: ${summary}`,
      evidence: `npm audit --omit=dev in ${projectDir}: ${summary}`,
      fix: "Run `npm audit --omit=dev` for the advisories, upgrade the packages (npm audit fix, or a newer direct dependency), and release.",
    },
  ]);
}
