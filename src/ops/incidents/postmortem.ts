import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import type { PlatformCommand } from "../../platform/command.ts";
import type { Incident } from "../../services/gateway/incidents.repository.ts";
import type { AuditRow } from "../../platform/audit/audit-chain.ts";
import { loadIncident, unknownIncident } from "./incident-commands.ts";
import { cutLogs, lineTime, type StreamCut, type TimeWindow } from "./log-window.ts";
import { secretRedactor } from "./redact.ts";
import { describeMinutes, SEVERITIES, serviceName, statusWord, type Severity } from "./templates.ts";
import { alertsInWindow } from "./alerts.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { auditRowsIn, auditTime, isDeployAction } from "./window-events.ts";

const args = z.object({ id: z.string(), out: z.string().optional(), prometheusUrl: z.string().url().optional() });

export interface TimelineEvent {
  at: string;
  source: "incident" | "audit" | "deploy" | "alert" | "security" | "error";
  text: string;
}

// Security-log events that are bookkeeping, not something that happened to the platform.
const routineSecurityEvents = new Set<string>([LogEvent.AUDIT_RECORDED, LogEvent.OPS_TOKEN_USED]);
// auth.log's security events (docs/operations.md "Logs"): failed logins, lockouts, a reused refresh token,
// password spraying, limits hit, forced resets; not its routine lines (logins, sign-ups, logouts, mail).
const authSecurityEvents = new Set<string>([
  LogEvent.LOGIN_FAILED,
  LogEvent.ACCOUNT_LOCKED,
  LogEvent.TOKEN_REUSED,
  LogEvent.SUSPICIOUS_ACTIVITY,
  LogEvent.RATE_LIMIT_EXCEEDED,
  LogEvent.ACCOUNT_DISABLED,
  LogEvent.PASSWORD_RESET_FORCED,
]);
/** At most this many security events and this many error lines each, earliest first; collect-logs has them all. */
export const MAX_LOG_EVENTS = 40;

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\s+/g, " ").trim();

/**
 * The security events (security.log's, and auth.log's listed above) and error lines (level ≥ 50) of the
 * window's logs, oldest first: up to MAX_LOG_EVENTS of each kind, so a flood of one (a thousand failed
 * logins) does not push the other out of the timeline; `omitted` counts the rest.
 */
export function timelineLogEvents(cuts: StreamCut[]): { events: TimelineEvent[]; omitted: number } {
  const security: TimelineEvent[] = [];
  const errors: TimelineEvent[] = [];
  for (const cut of cuts) {
    for (const line of cut.lines) {
      let entry: { level?: number; event?: string; msg?: string; reason?: unknown; detector?: unknown };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      const time = lineTime(line);
      if (time === undefined) continue;
      const at = new Date(time).toISOString();
      const isSecurity = entry.event !== undefined && (cut.stream === "security" ? !routineSecurityEvents.has(entry.event) : cut.stream === "auth" && authSecurityEvents.has(entry.event));
      if (isSecurity) {
        const why = [typeof entry.detector === "string" ? `detector ${entry.detector}` : "", typeof entry.reason === "string" ? `reason ${entry.reason}` : ""].filter(Boolean).join(", ");
        security.push({ at, source: "security", text: `${entry.event}${entry.msg ? `: ${entry.msg}` : ""}${why ? ` (${why})` : ""} [${cut.stream}.log]` });
      } else if ((entry.level ?? 0) >= 50) errors.push({ at, source: "error", text: `${cut.stream}.log: ${[entry.event, entry.msg].filter(Boolean).join(" ")}`.trim() });
    }
  }
  const earliest = (events: TimelineEvent[]) => events.sort((a, b) => a.at.localeCompare(b.at)).slice(0, MAX_LOG_EVENTS);
  return { events: [...earliest(security), ...earliest(errors)], omitted: Math.max(0, security.length - MAX_LOG_EVENTS) + Math.max(0, errors.length - MAX_LOG_EVENTS) };
}

function auditEvents(rows: AuditRow[], incident: Incident): TimelineEvent[] {
  // The incident's own rows are its updates, listed from incident_updates with their messages.
  return rows
    .filter((row) => row.target !== `incident:${incident.reference}`)
    .map((row) => ({ at: auditTime(row), source: isDeployAction(row.action) ? "deploy" : "audit", text: describeAuditRow(row) }));
}

const detail = (row: AuditRow, name: string) => (row.details[name] === undefined || row.details[name] === null ? undefined : String(row.details[name]));

/** One audit row as a timeline line; the deploy engine's rows (deploy.succeeded, deploy.rolled_back, deploy.rollback) say what changed and why. */
function describeAuditRow(row: AuditRow): string {
  const where = `on ${row.target} by ${row.actor}`;
  const reason = detail(row, "reason") ? `: ${detail(row, "reason")}` : "";
  switch (row.action) {
    case "deploy.succeeded":
      return `deploy.succeeded ${where}: version ${detail(row, "version") ?? "?"}${detail(row, "previousVersion") ? ` replaced ${detail(row, "previousVersion")}` : ""}${detail(row, "strategy") ? ` (${detail(row, "strategy")})` : ""}`;
    case "deploy.rolled_back":
      return `deploy.rolled_back ${where}: version ${detail(row, "version") ?? "?"} rolled back to ${detail(row, "previousVersion") ?? "the previous version"}${detail(row, "failedStep") ? ` at "${detail(row, "failedStep")}"` : ""}${reason}`;
    case "deploy.rollback":
      return `deploy.rollback ${where}: ${detail(row, "from") ?? "?"} → ${detail(row, "to") ?? "?"}${reason}`;
    default:
      return `${row.action} ${where}${detail(row, "version") ? ` (version ${detail(row, "version")})` : ""}`;
  }
}

/** The post-mortem skeleton the guide asks for, with everything the platform knows filled in. */
export function renderPostmortem(incident: Incident, window: TimeWindow, events: TimelineEvent[], omitted: number, generatedAt: Date, alertsNote: string): string {
  const severity = (incident.severity ?? 3) as Severity;
  const end = incident.resolvedAt ?? generatedAt.toISOString();
  const minutes = Math.max(1, Math.round((Date.parse(end) - Date.parse(incident.startedAt)) / 60_000));
  const identified = incident.updates.filter((update) => update.status === "identified");
  const rows = events.map((event) => `| ${event.at.slice(0, 19).replace("T", " ")} | ${event.source} | ${cell(event.text)} |`);
  return `# Post-mortem: ${incident.reference} — ${incident.title}

| | |
|---|---|
| Severity | SEV-${severity} (${SEVERITIES[severity].name}: ${SEVERITIES[severity].means}) |
| Service | ${serviceName(incident.service)} |
| Declared | ${incident.startedAt} |
| Resolved | ${incident.resolvedAt ?? `not yet (status: ${statusWord(incident.status)})`} |
| Duration | ${describeMinutes(minutes)}${incident.resolvedAt ? "" : " so far"} |
| Window examined | ${window.since.toISOString()} – ${window.until.toISOString()} |

## Timeline of events

All times UTC. Sources: the incident's updates, the audit log (deploys and rollbacks among them), alerts, security events and error lines of the logs.
${alertsNote}

| Time | Source | Event |
|---|---|---|
${rows.join("\n")}
${omitted > 0 ? `\n${omitted} further security events and error lines of the window are left out here; \`azora incident collect-logs ${incident.reference}\` has them all.\n` : ""}
## Root cause analysis

${identified.length > 0 ? `What the responders identified during the incident:\n\n${identified.map((update) => `- ${update.at}: ${update.message}`).join("\n")}\n\n` : ""}_To complete: the cause, why it happened (five whys), and why it was not caught earlier._

## Impact assessment

- Users saw: ${incident.updates[0]?.message ?? incident.message}
- Severity: SEV-${severity} — ${SEVERITIES[severity].means}
- Affected service: ${serviceName(incident.service)}
- Duration: ${describeMinutes(minutes)} (declared ${incident.startedAt}${incident.resolvedAt ? `, resolved ${incident.resolvedAt}` : ""})
- _To complete: number of users and requests affected, data lost or exposed (none if none), SLO budget used._

## Lessons learned

- What went well: _to complete_
- What went wrong: _to complete_
- Where we got lucky: _to complete_

## Action items

| Action | Owner | Due | Tracking |
|---|---|---|---|
| _to complete_ | | | |
`;
}

/** `azora incident postmortem ID`: the guide's post-mortem document as markdown, on stdout or in --out. */
export const incidentPostmortemCommand: PlatformCommand<z.input<typeof args>> = {
  name: "incident postmortem",
  async run(context, rawArgs, io) {
    const { id, out, prometheusUrl } = args.parse(rawArgs);
    const incident = await loadIncident(context.db, id);
    if (!incident) {
      io.err(unknownIncident(id));
      return 1;
    }
    const now = new Date(context.clock.now());
    const window: TimeWindow = { since: new Date(Date.parse(incident.startedAt) - 3_600_000), until: incident.resolvedAt ? new Date(incident.resolvedAt) : now };
    const fromLogs = timelineLogEvents(await cutLogs(context.config.paths.logs, window));
    const alerts = prometheusUrl ? await alertsInWindow(prometheusUrl, window) : undefined;
    const alertsNote =
      alerts === undefined ? "\n**Alerts are not in this timeline:** no Prometheus URL was given (`--prometheus-url` or `PROMETHEUS_URL`), so the alerts that fired in the window could not be read.\n"
      : typeof alerts === "string" ? `\n**Alerts are not in this timeline:** ${alerts}.\n`
      : `\nAlerts: Prometheus's \`ALERTS{alertstate="firing"}\` over the window (${alerts.length === 0 ? "none fired" : `${alerts.length} changes`}).\n`;
    if (typeof alerts === "string") io.err(`${alerts}; the post-mortem says so in its timeline.`);
    const events: TimelineEvent[] = [
      ...incident.updates.map((update, index) => ({ at: update.at, source: "incident" as const, text: `${index === 0 ? "Declared, " : ""}${statusWord(update.status)}: ${update.message}` })),
      ...auditEvents(await auditRowsIn(context.db, window), incident),
      ...(Array.isArray(alerts) ? alerts.map((alert) => ({ ...alert, source: "alert" as const })) : []),
      ...fromLogs.events,
    ].sort((a, b) => a.at.localeCompare(b.at));
    const redact = await secretRedactor(context.config, process.env);
    const document = redact(renderPostmortem(incident, window, events, fromLogs.omitted, now, alertsNote));
    if (out) {
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, document);
      io.out(`Wrote the post-mortem of ${incident.reference} to ${out} (${events.length} timeline events).`);
    } else io.out(document.trimEnd());
    return 0;
  },
};
