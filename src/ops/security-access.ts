import type { CommandIO } from "../platform/command.ts";
import { createAccessMonitor, isAccessLine } from "../services/security/access.ts";
import { logFiles, readLogFile } from "../services/security/log-reader.ts";
import type { SecurityPolicy } from "../services/security/policy.ts";
import { writeSuspiciousActivity } from "./security-anomalies.ts";
import { findingsTable } from "./security-report.ts";

export interface AccessOptions {
  logDir: string;
  since: number;
  until: number;
  policy: SecurityPolicy;
  admins: string[];
  json: boolean;
  events: boolean;
}

/** `azora security access-monitor`. Exit codes: 0 nothing to look at, 1 findings, 2 bad input. */
export async function runAccessMonitor(options: AccessOptions, io: CommandIO): Promise<number> {
  const monitor = createAccessMonitor(options, options.policy.access, options.admins);
  const files = await logFiles(options.logDir, ["api", "auth", "security"]);
  let lines = 0;
  for (const file of files) {
    lines += (await readLogFile(file, { since: monitor.readSince, until: options.until, wanted: isAccessLine }, (line) => monitor.add(line))).lines;
  }
  const { usage, findings } = monitor.report();
  const window = { since: new Date(options.since).toISOString(), until: new Date(options.until).toISOString(), baselineSince: new Date(monitor.readSince).toISOString() };
  if (options.events) writeSuspiciousActivity(options.logDir, "access-monitor", findings);
  if (options.json) io.out(JSON.stringify({ window, files, linesRead: lines, usage, findings }));
  else {
    io.out(`Administrative access from ${window.since} to ${window.until}: ${lines} lines read from ${files.length} file(s).`);
    io.out(`Ops token: ${usage.opsToken.uses} use(s)${usage.opsToken.uses > 0 ? ` from ${usage.opsToken.ips.join(", ")} (${usage.opsToken.commands.join(", ")})` : ""}.`);
    if (usage.admins.length === 0) io.out("Admins: none known from the logs or the database (name them with --admin USER_ID).");
    for (const admin of usage.admins) io.out(`Admin ${admin.userId}: ${admin.logins} login(s), ${admin.requests} request(s)${admin.ips.length > 0 ? ` from ${admin.ips.join(", ")}` : ""}.`);
    io.out(findings.length === 0 ? "Nothing unusual found." : findingsTable(findings));
  }
  return findings.length > 0 ? 1 : 0;
}
