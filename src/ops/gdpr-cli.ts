import { resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";

export interface GdprCliDeps {
  io: CommandIO;
  /** Runs a platform command where the data's owner is (here, or inside `azora up`). */
  platform: <Args extends Record<string, unknown>>(command: PlatformCommand<Args>, args: Args) => Promise<void>;
  setExitCode(code: number): void;
}

/** `azora gdpr export|delete|audit|replay-ledger` (operations guide: GDPR compliance). */
export function registerGdprCommands(program: Command, deps: GdprCliDeps): void {
  const gdpr = program.command("gdpr").description("GDPR: data subject access (export), erasure, and the data inventory.");

  gdpr
    .command("export <email>")
    .description("Write everything held about a person to one .tar.gz (profile, sessions, content, attachments, log events) with a manifest and SHA256SUMS.")
    .option("--out <file>", "archive to write (default: ./gdpr-export-<time>.tar.gz; never overwritten)")
    .option("--json", "print the result as JSON", false)
    .action(async (address: string, options: { out?: string; json: boolean }) => {
      // Resolved here: the command may run inside `azora up`, whose working directory is not this one.
      const out = resolve(options.out ?? `gdpr-export-${new Date().toISOString().replace(/[:.]/g, "").replace(/\d{3}Z$/, "Z")}.tar.gz`);
      return deps.platform((await import("./gdpr.ts")).gdprExportCommand, { email: address, out, json: options.json });
    });

  gdpr
    .command("delete <email>")
    .description(
      "Erase a person: account, content, attachments (local or S3), sessions, cache entries and mail; log lines pseudonymised; " +
        "recorded in the deletion ledger that every restore replays. Asks for confirmation unless --yes.",
    )
    .option("--dry-run", "show what would be erased and change nothing", false)
    .option("--yes", "erase without asking", false)
    .option("--json", "print the result as JSON", false)
    .action(async (address: string, options: { dryRun: boolean; yes: boolean; json: boolean }) => {
      let yes = options.yes;
      if (!options.dryRun && !yes) {
        if (!process.stdin.isTTY) {
          deps.io.err("Erasure cannot be undone: run with --dry-run to see what would go, then with --yes to erase.");
          deps.setExitCode(2);
          return;
        }
        yes = await confirm(address);
        if (!yes) {
          deps.io.err("Not confirmed; nothing was changed.");
          deps.setExitCode(1);
          return;
        }
      }
      await deps.platform((await import("./gdpr.ts")).gdprDeleteCommand, { email: address, dryRun: options.dryRun, yes, json: options.json });
    });

  gdpr
    .command("audit")
    .description("The data inventory: every table and column holding personal data, its purpose, retention and lawful basis. Exits 1 if a column is not annotated.")
    .option("--json", "print the inventory as JSON", false)
    .action(async (options: { json: boolean }) => deps.platform((await import("./gdpr.ts")).gdprAuditCommand, { json: options.json }));

  gdpr
    .command("replay-ledger")
    .description("Erase again everyone recorded in the deletion ledger (every restore does this itself).")
    .option("--json", "print the result as JSON", false)
    .action(async (options: { json: boolean }) => deps.platform((await import("./gdpr.ts")).gdprReplayLedgerCommand, { json: options.json }));
}

async function confirm(address: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`This erases ${address} for good. Type the email address again to confirm: `);
    return answer.trim().toLowerCase() === address.trim().toLowerCase();
  } finally {
    prompt.close();
  }
}
