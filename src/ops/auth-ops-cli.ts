import { readFile } from "node:fs/promises";
import { InvalidArgumentError, type Command } from "commander";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";

/** `azora account disable|enable`, `azora password-reset`, `azora audit verify|tail` (docs/auth-operations.md). */
export function registerAuthOpsCommands(
  program: Command,
  platform: <Args extends Record<string, unknown>>(command: PlatformCommand<Args>, args: Args) => Promise<void>,
  hooks: { io: CommandIO; setExitCode(code: number): void },
): void {
  const account = program.command("account").description("Account operations (operations guide: compromised credentials).");
  account
    .command("disable <email>")
    .description("Refuse the person's logins, end every session, and make their access tokens fail everywhere within 5 s.")
    .option("--reason <text>", "why (kept in the audit log; no personal data)")
    .option("--dry-run", "show what would change and change nothing", false)
    .option("--json", "print the result as JSON", false)
    .action(async (email: string, options: { reason?: string; dryRun: boolean; json: boolean }) => platform((await import("./account.ts")).accountCommand, { email, action: "disable", ...options }));
  account
    .command("enable <email>")
    .description("Let a disabled person log in again (their earlier tokens stay revoked).")
    .option("--dry-run", "show what would change and change nothing", false)
    .option("--json", "print the result as JSON", false)
    .action(async (email: string, options: { dryRun: boolean; json: boolean }) => platform((await import("./account.ts")).accountCommand, { email, action: "enable", ...options }));

  program
    .command("password-reset [emails...]")
    .description("Force a password reset: sessions end, the password stops working, a reset mail goes out (progress shown).")
    .option("--all", "every account", false)
    .option("--emails <file>", "a file of addresses, one per line (blank lines and # comments ignored)")
    .option("--dry-run", "list who would be reset and change nothing", false)
    .option("--json", "print the result as JSON", false)
    .action(async (emails: string[], options: { all: boolean; emails?: string; dryRun: boolean; json: boolean }) => {
      const listed = [...emails];
      if (options.emails !== undefined) {
        try {
          const text = await readFile(options.emails, "utf8");
          listed.push(...text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#")));
        } catch (error) {
          hooks.io.err(`${options.emails} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}); give a file of addresses, one per line.`);
          hooks.setExitCode(2);
          return;
        }
        if (listed.length === 0) {
          hooks.io.err(`${options.emails} names no address; nobody was reset.`);
          hooks.setExitCode(2);
          return;
        }
      }
      await platform((await import("./password-reset/password-reset.ts")).passwordResetCommand, { all: options.all, emails: listed, dryRun: options.dryRun, json: options.json });
    });

  program
    .command("secrets")
    .description("Generated secrets: signing keys and the ops token.")
    .command("rotate")
    .description("Publish a new signing key, sign with it once every JWKS cache has seen it, retire the old one after the longest token lifetime; replace the generated ops token.")
    .option("--dry-run", "show the plan and change nothing", false)
    .option("--json", "print the result as JSON", false)
    .action(async (options: { dryRun: boolean; json: boolean }) => platform((await import("./secrets-rotate.ts")).secretsRotateCommand, options));

  const audit = program.command("audit").description("The audit log of admin actions: append-only and hash-chained.");
  audit
    .command("verify")
    .description("Check every row's hash and its link to the row before; exit 1 naming each row edited, inserted or deleted.")
    .option("--json", "print the result as JSON", false)
    .action(async (options: { json: boolean }) => platform((await import("./audit.ts")).auditVerifyCommand, { json: options.json }));
  audit
    .command("tail")
    .description("Print the newest audit rows, oldest first; --follow keeps printing new ones until stopped (Ctrl-C).")
    .option("-n, --lines <n>", "how many rows (1 to 10000)", wholeNumber, 20)
    .option("-f, --follow", "keep printing rows as they are appended", false)
    .option("--json", "JSON: one array, or with --follow one object per line", false)
    .action(async (options: { lines: number; follow: boolean; json: boolean }) => platform((await import("./audit.ts")).auditTailCommand, options));
}

function wholeNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 10_000) throw new InvalidArgumentError("must be a whole number from 1 to 10000");
  return parsed;
}
