import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { z } from "zod";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import { verifyChain, type AuditRow } from "../platform/audit/audit-chain.ts";
import { createAuditRepository } from "../platform/audit/audit.repository.ts";
import { cliActor, recordAudit } from "../platform/audit/audit.service.ts";
import { createIncidentsRepository } from "../services/gateway/incidents.repository.ts";
import { affectedAccounts, readWindow, subjects, type Subject, type TimelineEntry } from "../services/security/forensics.ts";

/** How far before an incident's start the window opens: the attack usually begins before anyone declares it. */
export const LEAD_MS = 3_600_000;

const args = z.object({
  id: z.string().min(1).max(200),
  /** Epoch ms, parsed by the CLI (ISO-8601 or a duration before now). */
  since: z.number().int().optional(),
  until: z.number().int().optional(),
  /** Absolute paths (the CLI resolves them: the command may run in the process that owns the data). */
  out: z.string().min(1).max(4000),
  logDir: z.string().max(4000).optional(),
  json: z.boolean().default(false),
});
export type ForensicsArgs = z.input<typeof args>;

const iso = (ms: number) => new Date(ms).toISOString();
const auditTime = (row: AuditRow) => Number(BigInt(row.occurredAtMicros) / 1000n);

/**
 * `azora security forensics ID`: for an incident's window (from the incidents table, or --since/--until), the
 * timeline per account and per IP of logins, token use and reuse, reads and writes, exports, admin actions and
 * rate-limit hits; the audit rows of the window with the hash chain verified; the affected accounts; and an
 * evidence bundle (the raw log lines, the rows, the report) with SHA-256 checksums (`sha256sum -c SHA256SUMS`).
 */
export const securityForensicsCommand: PlatformCommand<ForensicsArgs> = {
  name: "security-forensics",
  async run(context, rawArgs, io) {
    const parsed = args.safeParse(rawArgs);
    if (!parsed.success) {
      io.err("Usage: azora security forensics ID [--since TIME] [--until TIME] [--out DIR] [--log-dir DIR] [--json]");
      return 2;
    }
    const request = parsed.data;
    const incident = await createIncidentsRepository(context.db).find(request.id);
    if (!incident && (request.since === undefined || request.until === undefined)) {
      io.err(
        `Incident ${request.id} is not in the incidents table (list them with azora incident list). ` +
          "Give the window yourself with --since and --until (ISO-8601, or a duration before now like 6h), and the ID is used as the bundle's label.",
      );
      return 2;
    }
    const now = context.clock.now();
    const since = request.since ?? Date.parse(incident!.startedAt) - LEAD_MS;
    const until = request.until ?? (incident?.resolvedAt ? Date.parse(incident.resolvedAt) : now);
    if (since >= until) {
      io.err("--since must be before --until.");
      return 2;
    }
    const logDir = request.logDir ?? context.config.paths.logs;
    if (!(await stat(logDir).catch(() => undefined))?.isDirectory()) {
      io.err(`Log directory ${logDir} does not exist: give the logs' copy with --log-dir.`);
      return 2;
    }
    const outStat = await stat(request.out).catch(() => undefined);
    if (outStat && !outStat.isDirectory()) {
      io.err(`${request.out} exists and is not a directory: choose a new directory with --out.`);
      return 2;
    }
    if (((await readdir(request.out).catch(() => [])) as string[]).length > 0) {
      io.err(`${request.out} exists and is not empty: choose a new directory with --out (evidence is never mixed).`);
      return 2;
    }

    // The raw lines go to the bundle as they are (byte for byte), one file per log stream.
    const raw: Record<string, string[]> = { auth: [], api: [], security: [] };
    const timeline: TimelineEntry[] = [];
    const read = await readWindow(logDir, since, until, (stream, text, entry) => {
      raw[stream]?.push(text);
      if (entry) timeline.push(entry);
    });
    timeline.sort((a, b) => a.time.localeCompare(b.time));

    const chain = await createAuditRepository(context.db).all();
    const windowRows = chain.filter((row) => auditTime(row) >= since && auditTime(row) < until);
    const first = windowRows[0]?.seq;
    const last = windowRows.at(-1)?.seq;
    // The chain is checked from its start (each row's prev_hash needs the row before), problems reported for the window's range.
    const problems = verifyChain(chain).filter((problem) => first !== undefined && last !== undefined && problem.seq >= first - 1 && problem.seq <= last + 1);
    for (const row of windowRows) {
      timeline.push({ time: iso(auditTime(row)), kind: "admin_action", stream: "audit_log", detail: `audit #${row.seq} ${row.action} by ${row.actor} on ${row.target}` });
    }
    timeline.sort((a, b) => a.time.localeCompare(b.time));
    const grouped = subjects(timeline);
    const affected = affectedAccounts(grouped.accounts, grouped.ips);
    const reuse = timeline.filter((entry) => entry.kind === "token_reuse");

    const summary = {
      id: request.id,
      incident: incident ?? null,
      window: { since: iso(since), until: iso(until), from: incident && request.since === undefined ? `the incident's start minus ${LEAD_MS / 60_000} min` : "--since/--until" },
      logs: { dir: logDir, files: read.files.map((file) => relative(logDir, file)), lines: read.lines },
      counts: countKinds(timeline),
      tokenReuse: reuse,
      affectedAccounts: affected.map((subject) => ({ id: subject.id, counts: subject.counts, ips: subject.ips })),
      audit: { rows: windowRows.length, range: first === undefined ? null : { first, last }, chainVerified: problems.length === 0, problems: problems.map((problem) => problem.message) },
      bundle: request.out,
    };

    await mkdir(join(request.out, "logs"), { recursive: true, mode: 0o700 });
    const files: Record<string, string> = {
      "summary.json": `${JSON.stringify(summary, null, 2)}\n`,
      "timeline.jsonl": timeline.map((entry) => JSON.stringify(entry)).join("\n") + (timeline.length > 0 ? "\n" : ""),
      "accounts.json": `${JSON.stringify(grouped.accounts, null, 2)}\n`,
      "ips.json": `${JSON.stringify(grouped.ips, null, 2)}\n`,
      "audit-rows.json": `${JSON.stringify(windowRows, null, 2)}\n`,
      "report.md": report(summary, grouped.accounts, grouped.ips, affected),
    };
    for (const [stream, lines] of Object.entries(raw)) files[`logs/${stream}.log`] = lines.join("\n") + (lines.length > 0 ? "\n" : "");
    const sums: string[] = [];
    for (const [name, content] of Object.entries(files)) {
      await writeFile(join(request.out, name), content, { mode: 0o600 });
      sums.push(`${createHash("sha256").update(content).digest("hex")}  ${name}`);
    }
    await writeFile(join(request.out, "SHA256SUMS"), `${sums.join("\n")}\n`, { mode: 0o600 });
    const manifestHash = createHash("sha256").update(await readFile(join(request.out, "SHA256SUMS"))).digest("hex");

    // Reading everyone's activity is itself an action to account for.
    await recordAudit(context, {
      actor: io.actor ?? cliActor(),
      action: "security.forensics",
      target: `incident:${request.id}`,
      details: { since: iso(since), until: iso(until), lines: read.lines, affected: affected.length, manifestSha256: manifestHash },
    });

    if (request.json) io.out(JSON.stringify({ ...summary, manifestSha256: manifestHash }));
    else printSummary(io, summary, affected, manifestHash);
    return 0;
  },
};

function countKinds(timeline: TimelineEntry[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const entry of timeline) counts[entry.kind] = (counts[entry.kind] ?? 0) + 1;
  return counts;
}

const countsText = (counts: Subject["counts"]) =>
  Object.entries(counts)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(", ");

function report(summary: { id: string; window: { since: string; until: string }; audit: { rows: number; chainVerified: boolean; problems: string[] }; tokenReuse: TimelineEntry[] }, accounts: Subject[], ips: Subject[], affected: Subject[]): string {
  const lines = [
    `# Forensic analysis: ${summary.id}`,
    "",
    `Window: ${summary.window.since} to ${summary.window.until}`,
    `Audit rows in the window: ${summary.audit.rows}; hash chain ${summary.audit.chainVerified ? "verified" : `BROKEN: ${summary.audit.problems.join("; ")}`}`,
    "",
    "## Affected accounts",
    "",
    ...(affected.length === 0 ? ["None."] : affected.map((subject) => `- ${subject.id}: ${countsText(subject.counts)}; from ${subject.ips.join(", ") || "-"}`)),
    "",
    "## Token reuse",
    "",
    ...(summary.tokenReuse.length === 0 ? ["None."] : summary.tokenReuse.map((entry) => `- ${entry.time} user ${entry.user ?? "?"} from ${entry.ip ?? "?"}: ${entry.detail}`)),
    "",
    "## Per account",
    "",
    "| account | first | last | events | IPs |",
    "|---|---|---|---|---|",
    ...accounts.map((subject) => `| ${subject.id} | ${subject.first} | ${subject.last} | ${countsText(subject.counts)} | ${subject.ips.join(", ")} |`),
    "",
    "## Per IP",
    "",
    "| IP | first | last | events | accounts |",
    "|---|---|---|---|---|",
    ...ips.map((subject) => `| ${subject.id} | ${subject.first} | ${subject.last} | ${countsText(subject.counts)} | ${subject.users.length} |`),
    "",
  ];
  return `${lines.join("\n")}\n`;
}

function printSummary(io: CommandIO, summary: { id: string; window: { since: string; until: string }; logs: { lines: number }; counts: Record<string, number>; audit: { rows: number; chainVerified: boolean; problems: string[] }; bundle: string }, affected: Subject[], manifestHash: string): void {
  io.out(`# Forensic analysis of ${summary.id}: ${summary.window.since} to ${summary.window.until}`);
  io.out(`Log lines in the window: ${summary.logs.lines}; events: ${Object.entries(summary.counts).map(([kind, count]) => `${kind} ${count}`).join(", ") || "none"}`);
  io.out(`Audit rows: ${summary.audit.rows}; hash chain ${summary.audit.chainVerified ? "verified for the window" : `BROKEN: ${summary.audit.problems.join("; ")}`}`);
  io.out(`Affected accounts: ${affected.length}`);
  for (const subject of affected) io.out(`  ${subject.id}: ${countsText(subject.counts)}; from ${subject.ips.join(", ") || "-"}`);
  io.out(`Evidence bundle: ${summary.bundle} (check with: cd ${summary.bundle} && sha256sum -c SHA256SUMS; SHA256SUMS itself: ${manifestHash})`);
}
