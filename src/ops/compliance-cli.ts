import { resolve } from "node:path";
import type { Command } from "commander";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";

export interface ComplianceCliHooks {
  io: CommandIO;
  platform: <Args extends Record<string, unknown>>(command: PlatformCommand<Args>, args: Args) => Promise<void>;
  setExitCode: (code: number) => void;
}

/** `azora compliance report`: the guide's monthly compliance audit as one document. */
export function registerComplianceCommands(program: Command, hooks: ComplianceCliHooks): void {
  const { io, platform, setExitCode } = hooks;
  program
    .command("compliance")
    .description("Compliance reporting.")
    .command("report")
    .description("Audit-chain verification, backups and restore drills, retention, GDPR requests, admin access, secret rotation, policy, open security findings (offline audit checks, recent SUSPICIOUS_ACTIVITY), open incidents, dependency vulnerabilities. Exit 1 when a control fails (failing ones listed first).")
    .option("--json", "print the report as JSON", false)
    .option("--html", "print the report as an HTML page", false)
    .option("--no-dependencies", "leave out npm audit (it needs the package registry)")
    .option("--out <file>", "write the report to a file")
    .action(async (options: { json: boolean; html: boolean; dependencies: boolean; out?: string }) => {
      if (options.json && options.html) {
        io.err("Choose one of --json and --html (markdown is the default).");
        setExitCode(2);
        return;
      }
      const format = options.json ? "json" : options.html ? "html" : "markdown";
      return platform((await import("./compliance/report.ts")).complianceReportCommand, { format, dependencies: options.dependencies, ...(options.out ? { out: resolve(options.out) } : {}) });
    });
}
