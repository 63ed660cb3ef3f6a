import { join } from "node:path";
import { Option, type Command } from "commander";
import type { CommandIO } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { parseDuration, parseSize } from "./logs/limits.ts";
import type { RotateReport } from "./logs/rotate.ts";

export interface LogsCliHooks {
  io: CommandIO;
  withConfig: (action: (config: Config) => Promise<number>) => () => Promise<void>;
}

interface RotateFlags {
  maxSize: string;
  maxAge: string;
  keep: string;
  force: boolean;
  dryRun: boolean;
  pid?: string;
  json: boolean;
}

/** `azora logs rotate` and `azora logs archive`: the guide's daily log rotation. */
export function registerLogsCommands(program: Command, hooks: LogsCliHooks): void {
  const { io, withConfig } = hooks;
  const logs = program.command("logs").description("Log files in LOG_DIR: rotate, compress, keep N, archive to S3.");

  logs
    .command("rotate")
    .description("Rotate api.log, auth.log and security.log when over --max-size or older than --max-age: move, make the running platform reopen (SIGHUP), gzip, keep the newest --keep.")
    .addOption(new Option("--max-size <size>", "rotate a file at this size (k, M, G)").default("100M"))
    .addOption(new Option("--max-age <age>", "rotate a file whose first line is this old (m, h, d, w)").default("1d"))
    .addOption(new Option("--keep <n>", "compressed files kept per log").default("14"))
    .option("--force", "rotate every non-empty file now", false)
    .option("--dry-run", "say what would be rotated and removed; change nothing", false)
    .addOption(new Option("--pid <pid>", "the process writing the logs (default: the one holding DATA_DIR's lock)"))
    .option("--json", "print the report as JSON", false)
    .action((flags: RotateFlags) => withConfig((config) => rotateAction(config, flags, io))());

  logs
    .command("reopen")
    .description("Make the running platform reopen its log files (SIGHUP) and wait until it has: for logrotate's postrotate.")
    .addOption(new Option("--pid <pid>", "the process writing the logs (default: the one holding DATA_DIR's lock)"))
    .action((flags: { pid?: string }) => withConfig((config) => reopenAction(config, flags.pid, io))());

  logs
    .command("archive")
    .description("Upload closed (rotated, compressed) log files to S3, verify each copy's size and SHA-256, and only then delete it locally.")
    .requiredOption("--to <url>", "destination, s3://bucket/prefix (endpoint and credentials from S3_* variables)")
    .option("--dry-run", "list what would be uploaded; change nothing", false)
    .option("--json", "print the result as JSON", false)
    .action((flags: { to: string; dryRun: boolean; json: boolean }) => withConfig((config) => archiveAction(config, flags, io))());
}

async function rotateAction(config: Config, flags: RotateFlags, io: CommandIO): Promise<number> {
  const maxBytes = parseSize(flags.maxSize);
  const maxAgeMs = parseDuration(flags.maxAge);
  const keep = /^\d{1,4}$/.test(flags.keep) ? Number(flags.keep) : undefined;
  const pid = flags.pid === undefined ? undefined : /^\d+$/.test(flags.pid) && Number(flags.pid) > 1 ? Number(flags.pid) : -1;
  const usage = [
    maxBytes === undefined || maxBytes === 0 ? `--max-size takes a size such as 100M or 512k, not "${flags.maxSize}".` : "",
    maxAgeMs === undefined ? `--max-age takes an age such as 12h, 1d or 2w, not "${flags.maxAge}".` : "",
    keep === undefined ? `--keep takes a whole number of files (0 to 9999), not "${flags.keep}".` : "",
    pid === -1 ? `--pid takes a process id, not "${flags.pid}".` : "",
  ].filter(Boolean);
  if (usage.length > 0 || maxBytes === undefined || maxAgeMs === undefined || keep === undefined) {
    usage.forEach((line) => io.err(line));
    return 2;
  }
  const { findLogWriter } = await import("./logs/reopen.ts");
  const { rotateLogs } = await import("./logs/rotate.ts");
  const writer = await findLogWriter(config.paths.state, pid);
  let report: RotateReport;
  try {
    report = await rotateLogs(config.paths.logs, writer, { maxBytes, maxAgeMs, keep, force: flags.force, dryRun: flags.dryRun, now: new Date() });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ESRCH") io.err(`No process ${pid ?? ""} to signal: is the platform running? (--pid)`);
    else if (code === "EPERM") io.err(`Not allowed to signal process ${writer.pid ?? ""}: run as the user the platform runs as.`);
    else io.err(`Rotation failed: ${(error as Error).message}`);
    return 1;
  }
  const failed = report.writer.pid !== null && !report.writer.reopened;
  if (!report.dryRun && (report.rotated.length > 0 || report.removed.length > 0)) {
    await (await import("./logs/audit-logs-operation.ts")).auditLogsOperation(config, { action: "logs.rotate", target: `logs:${config.paths.logs}`, details: { rotated: report.rotated.map((entry) => ({ stream: entry.stream, reason: entry.reason, bytes: entry.bytes, file: entry.file })), removed: report.removed, reopened: !failed } }, io.err);
  }
  if (flags.json) io.out(JSON.stringify(report));
  else printRotation(report, config.paths.logs, io);
  return failed ? 1 : 0;
}

function printRotation(report: RotateReport, dir: string, io: CommandIO): void {
  const verb = report.dryRun ? "would rotate" : "rotated";
  if (report.rotated.length === 0) io.out(`Nothing to rotate in ${dir}.`);
  for (const entry of report.rotated) io.out(`${verb} ${entry.stream}.log (${entry.reason}, ${entry.bytes} bytes) → ${entry.file}`);
  for (const entry of report.skipped) io.out(`kept ${entry.stream}.log: ${entry.reason}`);
  for (const name of report.removed) io.out(`${report.dryRun ? "would remove" : "removed"} ${name} (beyond --keep)`);
  if (report.writer.pid === null) io.err(`No running platform was signalled: ${report.writer.reason}.`);
  else if (!report.dryRun && !report.writer.reopened) {
    io.err(`Process ${report.writer.pid} did not reopen its log files within 10 s: the moved files are left uncompressed (it may still write to them).`);
  }
}

async function reopenAction(config: Config, pidText: string | undefined, io: CommandIO): Promise<number> {
  if (pidText !== undefined && !(/^\d+$/.test(pidText) && Number(pidText) > 1)) {
    io.err(`--pid takes a process id, not "${pidText}".`);
    return 2;
  }
  const { findLogWriter, signalReopen } = await import("./logs/reopen.ts");
  const { LOG_STREAMS } = await import("./logs/rotate.ts");
  const writer = await findLogWriter(config.paths.state, pidText === undefined ? undefined : Number(pidText));
  if (writer.pid === undefined) {
    io.err(`Nothing to signal: ${writer.reason}.`);
    return 1;
  }
  try {
    const paths = LOG_STREAMS.map((stream) => join(config.paths.logs, `${stream}.log`));
    if (await signalReopen(writer.pid, paths)) {
      io.out(`Process ${writer.pid} reopened its log files.`);
      return 0;
    }
    io.err(`Process ${writer.pid} did not reopen its log files within 10 s.`);
  } catch (error) {
    io.err(`Cannot signal process ${writer.pid}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
  return 1;
}

async function archiveAction(config: Config, flags: { to: string; dryRun: boolean; json: boolean }, io: CommandIO): Promise<number> {
  const { archiveLogs, parseS3Url } = await import("./logs/archive.ts");
  const target = parseS3Url(flags.to);
  if (typeof target === "string") {
    io.err(target);
    return 2;
  }
  const results = await archiveLogs(config, target, { dryRun: flags.dryRun });
  const failed = results.filter((entry) => entry.status === "failed");
  if (!flags.dryRun && results.length > 0) {
    await (await import("./logs/audit-logs-operation.ts")).auditLogsOperation(config, { action: "logs.archive", target: `s3://${target.bucket}/${target.prefix}`, details: { files: results.map((entry) => ({ file: entry.file, key: entry.key, bytes: entry.bytes, sha256: entry.sha256, status: entry.status })) } }, io.err);
  }
  if (flags.json) io.out(JSON.stringify({ to: flags.to, dryRun: flags.dryRun, files: results }));
  else {
    if (results.length === 0) io.out(`No closed log files in ${config.paths.logs} (run azora logs rotate first).`);
    for (const entry of results) {
      const line = `${entry.status} ${entry.file} → s3://${target.bucket}/${entry.key} (${entry.bytes} bytes, sha256 ${entry.sha256.slice(0, 12)}…)`;
      if (entry.status === "failed") io.err(`${line}: ${entry.error ?? ""}; kept locally`);
      else io.out(line);
    }
  }
  return failed.length > 0 ? 1 : 0;
}
