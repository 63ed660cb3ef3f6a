import { execFile } from "node:child_process";

/** What the registry answered `npm audit --omit=dev` in a directory: its findings, or the HTTP status it refused the request with. */
export type NpmAuditAnswer =
  | { kind: "findings"; vulnerabilities: Record<string, number>; total: number }
  | { kind: "refused"; status: number }
  | { kind: "other"; text: string };

/**
 * Runs npm audit itself, so a test can hold a command's summary against the registry's real answer wherever
 * it runs: a registry that audits gives findings; a mirror or cache that serves packages only refuses the
 * advisory request (405), and the summary must say that instead of inventing a result.
 */
export function npmAuditAnswer(dir: string): Promise<NpmAuditAnswer> {
  return new Promise((resolve) => {
    execFile("npm", ["audit", "--omit=dev", "--json"], { cwd: dir, timeout: 120_000, maxBuffer: 32 * 1024 * 1024 }, (_error, stdout) => {
      try {
        const report = JSON.parse(stdout) as { statusCode?: number; metadata?: { vulnerabilities?: Record<string, number> } };
        if (report.metadata?.vulnerabilities) {
          const { total = 0, ...vulnerabilities } = report.metadata.vulnerabilities;
          return resolve({ kind: "findings", vulnerabilities, total });
        }
        if (typeof report.statusCode === "number") return resolve({ kind: "refused", status: report.statusCode });
      } catch {
        // Reported as it is below.
      }
      resolve({ kind: "other", text: stdout.slice(0, 500) });
    });
  });
}
