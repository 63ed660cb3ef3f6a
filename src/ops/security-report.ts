import type { Finding } from "../services/security/anomalies.ts";

const MAX_LISTED = 5;
const list = (values: string[]) => (values.length <= MAX_LISTED ? values.join(",") : `${values.slice(0, MAX_LISTED).join(",")} +${values.length - MAX_LISTED}`);

/** Findings as an aligned text table (one row each), for a terminal or a mail. */
export function findingsTable(findings: Finding[], header = true): string {
  const rows = findings.map((finding) => [
    finding.severity.toUpperCase(),
    finding.kind,
    finding.subject,
    String(finding.events),
    finding.first.slice(0, 19) + "Z",
    list(finding.ips) || "-",
    list(finding.userIds.length > 0 ? finding.userIds : finding.accounts) || "-",
  ]);
  const all = header ? [["SEVERITY", "KIND", "SUBJECT", "EVENTS", "FIRST", "IPS", "ACCOUNTS"], ...rows] : rows;
  const widths = all[0]!.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  const lines = all.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  "));
  return [...lines, ...(header ? ["", ...findings.map((finding) => `- ${finding.summary}`)] : [])].join("\n");
}
