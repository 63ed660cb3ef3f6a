import type { Incident } from "../../services/gateway/incidents.repository.ts";

/** The guide's severity levels (Incident Response → Incident Classification). */
export const SEVERITIES = {
  1: { name: "Critical", means: "Complete system outage, data loss, security breach", impact: "critical", external: "🔴 Major outage" },
  2: { name: "High", means: "Major service degradation, significant user impact", impact: "major", external: "🔴 Degraded" },
  3: { name: "Medium", means: "Minor service issues, limited user impact", impact: "minor", external: "🟠 Partially degraded" },
  4: { name: "Low", means: "Cosmetic issues, no functional impact", impact: "minor", external: "🟡 Minor issue" },
} as const satisfies Record<number, { name: string; means: string; impact: Incident["impact"]; external: string }>;

export type Severity = keyof typeof SEVERITIES;

const serviceNames: Record<string, string> = { gateway: "API Gateway", auth: "Sign-in and accounts", users: "Profiles and content" };

/** How operators and customers know a service: `gateway` is the guide's "API Gateway". */
export const serviceName = (service: string) => serviceNames[service] ?? service;

const statusWords: Record<Incident["status"], string> = { investigating: "Investigating", identified: "Identified", monitoring: "Monitoring", resolved: "Resolved" };
export const statusWord = (status: Incident["status"]) => statusWords[status];

/** `30 minutes`, `2 hours`, `1 hour 30 minutes`; "unknown" when no estimate was given. */
export function describeMinutes(minutes: number | null): string {
  if (minutes === null) return "unknown";
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  const parts = [hours > 0 ? `${hours} hour${hours === 1 ? "" : "s"}` : "", rest > 0 ? `${rest} minute${rest === 1 ? "" : "s"}` : ""].filter(Boolean);
  return parts.join(" ");
}

const severityOf = (incident: Incident): Severity => (incident.severity ?? 3) as Severity;

/** The guide's internal message (#incidents channel), filled in. */
export function internalMessage(incident: Incident): string {
  return [
    "🚨 INCIDENT DECLARED 🚨",
    "",
    `Severity: SEV-${severityOf(incident)}`,
    `Service: ${serviceName(incident.service)}`,
    `Status: ${statusWord(incident.status)}`,
    `Impact: ${incident.message}`,
    `ETA: ${describeMinutes(incident.etaMinutes)}`,
    "",
    `#${incident.reference ?? incident.id}`,
  ].join("\n");
}

/** The guide's external message (status page, customers), filled in: no internal detail, only the service and the estimate. */
export function externalMessage(incident: Incident): string {
  return [
    "🔄 Service Update",
    "",
    `We're experiencing some issues with our ${serviceName(incident.service)} service.`,
    "Our team is working to resolve this quickly.",
    "",
    `Status: ${SEVERITIES[severityOf(incident)].external}`,
    `Estimated Resolution: ${describeMinutes(incident.etaMinutes)}`,
    "",
    "We apologize for the inconvenience.",
  ].join("\n");
}
