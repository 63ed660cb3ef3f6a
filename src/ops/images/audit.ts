import { execFile } from "node:child_process";

export type AuditSummary =
  | { ok: true; vulnerabilities: Record<string, number>; total: number }
  | { ok: false; reason: string };

/**
 * `npm audit --omit=dev --json`, summarised by severity. It needs the registry: where that cannot be
 * reached, the summary says so instead of failing the image update.
 */
export function auditProductionDependencies(packageRoot: string): Promise<AuditSummary> {
  return new Promise((resolve) => {
    execFile("npm", ["audit", "--omit=dev", "--json"], { cwd: packageRoot, timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout) => {
      // npm audit exits 1 when it finds vulnerabilities: the JSON is still the answer.
      try {
        const report = JSON.parse(stdout) as { message?: string; statusCode?: number; metadata?: { vulnerabilities?: Record<string, number> }; error?: { code?: string; summary?: string } };
        if (report.metadata?.vulnerabilities) {
          const { total = 0, ...bySeverity } = report.metadata.vulnerabilities;
          return resolve({ ok: true, vulnerabilities: bySeverity, total });
        }
        if (report.error) {
          if (typeof report.statusCode === "number") return resolve({ ok: false, reason: refusal(report.statusCode, report.message) });
          // npm puts the cause in `message` ("… failed, reason: connect ECONNREFUSED …") or in error.summary.
          const cause = (report.message || report.error.summary || report.error.code || "no reason given").split("\n")[0];
          return resolve({ ok: false, reason: `npm audit could not reach the registry: ${cause}` });
        }
      } catch {
        // Not JSON: reported below.
      }
      const timedOut = (error as { killed?: boolean } | null)?.killed;
      resolve({ ok: false, reason: timedOut ? "npm audit did not answer within 60 s (registry unreachable?)" : `npm audit failed: ${error?.message.split("\n")[0] ?? "no report"}` });
    });
  });
}

/**
 * The registry was reached and answered the advisory request with an HTTP error. Said as such, not as
 * "unreachable": a registry mirror or cache that serves packages (GET) but not npm's advisory endpoint (a
 * POST) answers 405, and the fix is a registry that audits, not the network. npm's message names the
 * endpoint's URL, which is left out (a registry URL may carry credentials).
 */
function refusal(status: number, message: string | undefined): string {
  const text = /^\d{3} ([^-]+?)(?: - |$)/.exec(message ?? "")?.[1]?.trim();
  const hint = status === 405 ? " (it serves packages but not npm's advisory endpoint: a read-only mirror or cache?)" : "";
  return `the registry refused npm audit's request: ${status}${text ? ` ${text}` : ""}${hint}`;
}
