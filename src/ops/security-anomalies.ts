import { stat } from "node:fs/promises";
import { basename } from "node:path";
import type { CommandIO } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { LogEvent } from "../platform/log-events.ts";
import { createLogs } from "../platform/logger.ts";
import { detectAnomalies, isAnomalyLine, toAuthEvent, type AuthEvent, type Finding } from "../services/security/anomalies.ts";
import { logFiles, readLogFile } from "../services/security/log-reader.ts";
import type { SecurityPolicy } from "../services/security/policy.ts";
import { findingsTable } from "./security-report.ts";

export interface AnomaliesOptions {
  logDir: string;
  since: number;
  until: number;
  policy: SecurityPolicy;
  json: boolean;
  /** Write a SUSPICIOUS_ACTIVITY line per finding to security.log. */
  events: boolean;
  follow: boolean;
  /** With follow: how often the files are read again. */
  pollMs?: number;
  /** With follow: resolves when watching should end (a signal). */
  stopped?: Promise<void>;
}

/** Exit codes: 0 nothing found, 1 findings, 2 bad input (see docs/security-operations.md). */
export async function runAnomalies(options: AnomaliesOptions, io: CommandIO): Promise<number> {
  const started = Date.now();
  const files = await logFiles(options.logDir, ["auth", "api"]);
  const events: AuthEvent[] = [];
  let lines = 0;
  const offsets = new Map<string, ReadTo>();
  for (const file of files) {
    // Stat just before the read: which file (inode) the offset belongs to, for --follow.
    const ino = file.endsWith(".gz") ? undefined : (await stat(file).catch(() => undefined))?.ino;
    const read = await readLogFile(file, { since: options.since, until: options.until, wanted: isAnomalyLine }, (line) => {
      const event = toAuthEvent(line);
      if (event) events.push(event);
    });
    lines += read.lines;
    if (ino !== undefined) offsets.set(file, { ino, bytes: read.bytes });
  }
  const findings = detectAnomalies(events, options.policy.anomalies);
  const seconds = (Date.now() - started) / 1000;
  const window = { since: new Date(options.since).toISOString(), until: options.follow ? null : new Date(options.until).toISOString() };
  if (options.events) writeSuspiciousActivity(options.logDir, "anomalies", findings);
  if (options.json) io.out(JSON.stringify({ window, files, linesRead: lines, eventsConsidered: events.length, seconds, findings }));
  else {
    io.out(`Anomalies from ${window.since} to ${window.until ?? "now"}: ${lines} lines read from ${files.length} file(s), ${events.length} authentication events, ${seconds.toFixed(1)} s.`);
    io.out(findings.length === 0 ? "No anomalies found." : findingsTable(findings));
  }
  if (!options.follow) return findings.length > 0 ? 1 : 0;
  return follow(options, io, events, offsets, findings);
}

/** How far a live file has been read, and which file that was (its inode): the live name moves on at each rotation. */
interface ReadTo {
  ino: number;
  bytes: number;
}

/** Keeps reading what is appended to auth.log and api.log and reports each new finding once. */
async function follow(options: AnomaliesOptions, io: CommandIO, events: AuthEvent[], offsets: Map<string, ReadTo>, known: Finding[]): Promise<number> {
  const reported = new Set(known.map(findingKey));
  const span = options.until - options.since;
  let stop = false;
  void options.stopped?.then(() => (stop = true));
  if (!options.json) io.out("Following auth.log and api.log (Ctrl-C to stop)…");
  while (!stop) {
    await Promise.race([new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 1000)), options.stopped]);
    if (stop) break;
    for (const file of await logFiles(options.logDir, ["auth", "api"])) {
      // Only the live files grow; a rotated one holds lines already read from the live file before it moved.
      if (basename(file) !== "auth.log" && basename(file) !== "api.log") continue;
      const info = await stat(file).catch(() => undefined);
      if (!info) continue;
      // Another file under the live name (another inode) has replaced the one read: a rotation moved it away,
      // so the new one is read from its start, even when it has already grown past where the old one was read
      // to. A file smaller than what was read has been replaced too (copytruncate).
      const known = offsets.get(file);
      const from = known && known.ino === info.ino && known.bytes <= info.size ? known.bytes : 0;
      if (from === info.size) {
        offsets.set(file, { ino: info.ino, bytes: from });
        continue;
      }
      const read = await readLogFile(file, { since: 0, until: Number.MAX_SAFE_INTEGER, wanted: isAnomalyLine }, (line) => {
        const event = toAuthEvent(line);
        if (event) events.push(event);
      }, from);
      offsets.set(file, { ino: info.ino, bytes: read.bytes });
    }
    const horizon = Date.now() - span;
    const recent = events.filter((event) => event.at >= horizon);
    events.splice(0, events.length, ...recent);
    const fresh = detectAnomalies(events, options.policy.anomalies).filter((finding) => !reported.has(findingKey(finding)));
    for (const finding of fresh) reported.add(findingKey(finding));
    if (fresh.length === 0) continue;
    if (options.events) writeSuspiciousActivity(options.logDir, "anomalies", fresh);
    for (const finding of fresh) io.out(options.json ? JSON.stringify(finding) : findingsTable([finding], false));
  }
  return reported.size > 0 ? 1 : 0;
}

const findingKey = (finding: Finding) => `${finding.kind} ${finding.subject}`;

/** One SUSPICIOUS_ACTIVITY line per finding in security.log (appended beside a running platform's own lines). */
export function writeSuspiciousActivity(logDir: string, detector: string, findings: Finding[]): void {
  if (findings.length === 0) return;
  const logs = createLogs({ dir: logDir, level: "info", stdout: false });
  try {
    for (const finding of findings) {
      logs.security.warn({ event: LogEvent.SUSPICIOUS_ACTIVITY, detector, ...finding }, finding.summary);
    }
  } finally {
    logs.close();
  }
}
