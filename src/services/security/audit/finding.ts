/** One result of `azora security audit`: what was checked, how bad it is, what shows it, and how to fix it. */
export interface AuditFinding {
  check: string;
  severity: "high" | "medium" | "low";
  title: string;
  evidence: string;
  fix: string;
}

/** A check that could not be run here (a tool missing, --skip-npm-audit): reported, never counted as passed. */
export interface NotChecked {
  check: string;
  reason: string;
}

export interface CheckOutcome {
  findings: AuditFinding[];
  notChecked: NotChecked[];
}

export const outcome = (findings: AuditFinding[] = [], notChecked: NotChecked[] = []): CheckOutcome => ({ findings, notChecked });
