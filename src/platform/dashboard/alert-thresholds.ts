/**
 * The alert rules' thresholds, as deployment/monitoring/prometheus/rules/alerts.yml states them (a test holds
 * the two equal), for the built-in dashboard's alerts where no Prometheus runs. ServiceDown is left out: a
 * process cannot see itself down.
 */
export const alertThresholds = {
  HighErrorRate: { severity: "critical", op: ">", threshold: 0.05, forSeconds: 300 },
  BackupStale: { severity: "critical", op: ">", threshold: 26 * 3600, forSeconds: 900 },
  DatabaseConnectionsHigh: { severity: "warning", op: ">", threshold: 0.8, forSeconds: 300 },
  HighResponseTime: { severity: "warning", op: ">", threshold: 2, forSeconds: 600 },
  LowDiskSpace: { severity: "warning", op: "<", threshold: 0.1, forSeconds: 300 },
  RestoreDrillStale: { severity: "warning", op: ">", threshold: 35 * 86400, forSeconds: 3600 },
  CircuitBreakerOpen: { severity: "warning", op: "==", threshold: 2, forSeconds: 120 },
  RateLimitSurge: { severity: "warning", op: ">", threshold: 1, forSeconds: 600 },
  LoginFailureSurge: { severity: "warning", op: ">", threshold: 0.5, forSeconds: 300 },
  MailOutboxBacklog: { severity: "warning", op: ">", threshold: 600, forSeconds: 300 },
} as const satisfies Record<string, { severity: "critical" | "warning"; op: ">" | "<" | "=="; threshold: number; forSeconds: number }>;

export type AlertName = keyof typeof alertThresholds;

/** Whether a value crosses an alert's threshold. */
export function crosses(name: AlertName, value: number | null | undefined): boolean {
  if (value === null || value === undefined || Number.isNaN(value)) return false;
  const { op, threshold } = alertThresholds[name];
  return op === ">" ? value > threshold : op === "<" ? value < threshold : value === threshold;
}
