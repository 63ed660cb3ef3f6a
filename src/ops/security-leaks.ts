import type { CommandIO } from "../platform/command.ts";
import { createLeakDetector, isLeakLine } from "../services/security/leaks.ts";
import { logFiles, readLogFile } from "../services/security/log-reader.ts";
import type { SecurityPolicy } from "../services/security/policy.ts";
import { writeSuspiciousActivity } from "./security-anomalies.ts";
import { findingsTable } from "./security-report.ts";

export interface LeakOptions {
  logDir: string;
  since: number;
  until: number;
  policy: SecurityPolicy;
  json: boolean;
  events: boolean;
}

/** `azora security leak-detect`. Exit codes: 0 nothing found, 1 findings, 2 bad input. */
export async function runLeakDetection(options: LeakOptions, io: CommandIO): Promise<number> {
  const started = Date.now();
  const detector = createLeakDetector(options, options.policy.leaks);
  const files = await logFiles(options.logDir, ["api", "security"]);
  let lines = 0;
  for (const file of files) {
    const read = await readLogFile(file, { since: detector.readSince, until: options.until, wanted: isLeakLine }, (line) => detector.add(line));
    lines += read.lines;
  }
  const findings = detector.findings();
  const seconds = (Date.now() - started) / 1000;
  const window = { since: new Date(options.since).toISOString(), until: new Date(options.until).toISOString(), baselineSince: new Date(detector.readSince).toISOString() };
  if (options.events) writeSuspiciousActivity(options.logDir, "leak-detect", findings);
  if (options.json) io.out(JSON.stringify({ window, files, linesRead: lines, seconds, findings }));
  else {
    io.out(`Leak detection from ${window.since} to ${window.until} (baseline from ${window.baselineSince}): ${lines} lines read from ${files.length} file(s), ${seconds.toFixed(1)} s.`);
    io.out(findings.length === 0 ? "Nothing unusual found." : findingsTable(findings));
  }
  return findings.length > 0 ? 1 : 0;
}
