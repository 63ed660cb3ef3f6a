import { createInterface } from "node:readline/promises";
import { Option, type Command } from "commander";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";

export interface CliHooks {
  io: CommandIO;
  /** Wraps an action that needs the configuration; its return value is the exit code. */
  withConfig: (action: (config: Config) => Promise<number>) => () => Promise<void>;
  /** Runs a platform command where the data's owner is. */
  platform: <Args extends Record<string, unknown>>(command: PlatformCommand<Args>, args: Args) => Promise<void>;
  setExitCode: (code: number) => void;
}

/** Asks on a terminal; anything else must say --yes, so a script never replaces a database by accident. */
async function confirmed(question: string, io: CommandIO): Promise<boolean> {
  if (!process.stdin.isTTY) {
    io.err("Restore replaces the live database: add --yes to confirm (or --dry-run to see what it would do).");
    return false;
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await prompt.question(`${question} Type "yes" to continue: `)).trim().toLowerCase() === "yes";
  } finally {
    prompt.close();
  }
}

const wholeNumber = (text: string, min: number, max: number) => (/^\d+$/.test(text) && Number(text) >= min && Number(text) <= max ? Number(text) : undefined);

/** `azora backup …`, `azora restore …` and `azora db integrity-check`. */
export function registerBackupCommands(program: Command, hooks: CliHooks): void {
  const { io, withConfig, platform } = hooks;
  const usage = (message: string) => {
    io.err(message);
    hooks.setExitCode(2);
  };
  const backup = program.command("backup").description("Backups: logical full backups (both backends), verify, restore drills; pgBackRest on PostgreSQL.");

  for (const kind of ["full", "emergency"] as const) {
    backup
      .command(kind)
      .description(kind === "full" ? "Take a logical full backup (pg_dump custom format on PostgreSQL, SQL dump on the embedded default) into DATA_DIR/backups." : "Take a full backup now, tagged emergency, exempt from retention; prints where it is.")
      .option("--json", "print the result as JSON", false)
      .action(async (options: { json: boolean }) => platform((await import("./backup.ts")).backupFullCommand, { kind, json: options.json }));
  }
  backup
    .command("config")
    .description("Back up the secrets (master key, ops token), the GDPR deletion ledger and pgBackRest's configuration of DATA_DIR, encrypted; needs BACKUP_KEY or AZORA_MASTER_KEY.")
    .option("--json", "print the result as JSON", false)
    .action((options: { json: boolean }) => withConfig(async (config) => (await import("./config-content-backup.ts")).backupConfigCommand(config, options, io))());
  backup
    .command("content")
    .description("Back up attachment files into DATA_DIR/backups/content (or the S3 bucket's backups/content/ prefix); copies only files the previous content backup lacks.")
    .option("--json", "print the result as JSON", false)
    .action(async (options: { json: boolean }) => platform((await import("./config-content-backup.ts")).backupContentCommand, { json: options.json }));
  backup
    .command("prune-content")
    .description("Remove files from the content backup pool that no content backup names (left by an interrupted backup); written to the audit log.")
    .option("--dry-run", "list what would be removed; change nothing", false)
    .option("--json", "print the result as JSON", false)
    .action(async (options: { dryRun: boolean; json: boolean }) => platform((await import("./config-content-backup.ts")).pruneContentCommand, { dryRun: options.dryRun, json: options.json }));
  backup
    .command("incremental")
    .description("Incremental backup through pgBackRest (PostgreSQL after azora backup setup; not available on the embedded default).")
    .action(withConfig(async (config) => (await import("./pitr.ts")).incrementalCommand(config, io)));
  backup
    .command("setup")
    .description("PostgreSQL: write pgBackRest's stanza configuration, say what postgresql.conf needs, create the stanza. Run on the database server as its owner.")
    .addOption(new Option("--pg-data <dir>", "the server's data directory (default: what the server reports)"))
    .action(async (options: { pgData?: string }) => platform((await import("./pitr.ts")).backupSetupCommand, options.pgData ? { pgData: options.pgData } : {}));
  backup
    .command("list")
    .description("List complete backups, newest first.")
    .option("--json", "print the list as JSON", false)
    .action((options: { json: boolean }) => withConfig(async (config) => (await import("./backup.ts")).listCommand(config, options, io))());
  backup
    .command("verify [id]")
    .description("Check manifests and SHA-256 checksums of the latest backup, one backup (ID or path), or --all; names every bad file, exits 1 if any.")
    .option("--all", "verify every backup in the store", false)
    .option("--json", "print the result as JSON", false)
    .action((reference: string | undefined, options: { all: boolean; json: boolean }) =>
      withConfig(async (config) => (await import("./backup.ts")).verifyCommand(config, { ...(reference ? { reference } : {}), all: options.all, json: options.json }, io))(),
    );
  backup
    .command("drill [id]")
    .description("Restore the latest backup (or ID) into a scratch database, compare it with its manifest, record the recovery time.")
    .option("--json", "print the result as JSON", false)
    .action(async (reference: string | undefined, options: { json: boolean }) => platform((await import("./backup.ts")).backupDrillCommand, { reference: reference ?? "latest", json: options.json }));

  program
    .command("restore <source> [reference]")
    .description(
      "Restore a backup: ID, a backup directory, a plain .sql file, or latest. Loads it beside the live database, checks it, replays the GDPR deletion ledger, then swaps; writes answer 503 maintenance meanwhile. " +
        "azora restore config [ID|PATH|latest] puts back secrets and settings files; azora restore content [ID|latest] brings back attachment files.",
    )
    .option("-y, --yes", "do not ask for confirmation", false)
    .option("--dry-run", "check the source and say what would happen; change nothing", false)
    .option("--json", "print the result as JSON", false)
    .addOption(new Option("--target-time <iso8601>", "point-in-time recovery to that moment (PostgreSQL with pgBackRest): azora restore latest --target-time …"))
    .addOption(new Option("--pg-data <dir>", "with --target-time: the server's data directory (default: the one azora backup setup recorded)"))
    .addOption(
      new Option(
        "--blobs-from <place...>",
        "where else the attachment files are, when moving between local files and S3: a blob directory (the old DATA_DIR/blobs), s3://BUCKET/PREFIX, or http(s)://ENDPOINT/BUCKET/PREFIX (S3-compatible); credentials from S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY",
      ),
    )
    .action((source: string, reference: string | undefined, options: { yes: boolean; dryRun: boolean; json: boolean; targetTime?: string; pgData?: string; blobsFrom?: string[] }) =>
      withConfig(async (config) => {
        if (source === "content") return (await import("./run-platform-command.ts")).runPlatformCommand(config, (await import("./config-content-backup.ts")).restoreContentCommand, { reference: reference ?? "latest", dryRun: options.dryRun, json: options.json }, io);
        if (reference !== undefined && source !== "config") {
          io.err(`Unexpected argument ${reference}: azora restore ID|PATH|latest, or azora restore config|content [ID|latest].`);
          return 2;
        }
        if (source === "config") {
          if (!options.yes && !options.dryRun && !(await confirmed("This replaces the secrets in DATA_DIR with those of the config backup.", io))) return 2;
          return (await import("./config-content-backup.ts")).restoreConfigCommand(config, { reference: reference ?? "latest", dryRun: options.dryRun, json: options.json }, io);
        }
        if (!options.yes && !options.dryRun && !(await confirmed(`This replaces the live database with ${source}.`, io))) return 2;
        if (options.targetTime) {
          if (source !== "latest") {
            io.err("With --target-time the source is pgBackRest's repository: write azora restore latest --target-time ISO8601.");
            return 2;
          }
          const recovered = await (await import("./pitr.ts")).pointInTimeRestore(config, { targetTime: options.targetTime, ...(options.pgData ? { pgData: options.pgData } : {}) }, io);
          if (recovered !== 0) return recovered;
          // The recovered database is from before some erasures: they are replayed before anything else uses it.
          return (await import("./run-platform-command.ts")).runPlatformCommand(config, (await import("./gdpr.ts")).gdprReplayLedgerCommand, { json: false }, io);
        }
        return (await import("./run-platform-command.ts")).runPlatformCommand(config, (await import("./restore.ts")).restoreCommand, { reference: source, dryRun: options.dryRun, json: options.json, blobsFrom: options.blobsFrom ?? [] }, io);
      })(),
    );

  const db = program.command("db").description("Database tools.");
  db
    .command("analyze-queries")
    .description("Top statements by total time from pg_stat_statements (calls, mean, rows) with a hint from their plans; says how to enable the extension, and what PGlite can report.")
    .addOption(new Option("--top <n>", "how many statements (1-100)").default("10"))
    .option("--json", "print the result as JSON", false)
    .action(async (options: { top: string; json: boolean }) => {
      const top = wholeNumber(options.top, 1, 100);
      if (top === undefined) return usage(`--top takes a whole number from 1 to 100, not "${options.top}".`);
      return platform((await import("./db-review/analyze-queries.ts")).analyzeQueriesCommand, { top, json: options.json });
    });
  db
    .command("optimize")
    .description("VACUUM (ANALYZE), bloat estimate, unused and duplicate indexes, foreign keys without an index, REINDEX CONCURRENTLY of invalid indexes. Dry run by default when AZORA_ENV=production.")
    .option("--dry-run", "report and plan only; change nothing", false)
    .option("--apply", "change things even on production", false)
    .option("--json", "print the result as JSON", false)
    .action(async (options: { dryRun: boolean; apply: boolean; json: boolean }) => {
      if (options.dryRun && options.apply) return usage("Choose one of --dry-run and --apply.");
      const dryRun = options.dryRun ? true : options.apply ? false : undefined;
      return platform((await import("./db-review/optimize.ts")).optimizeCommand, { json: options.json, ...(dryRun === undefined ? {} : { dryRun }) });
    });
  db
    .command("integrity-check")
    .description("Find orphaned rows, invalid constraints, broken indexes (amcheck on PostgreSQL) and sequence problems; exit 1 with a list when any.")
    .option("--json", "print the result as JSON", false)
    .action(async (options: { json: boolean }) => platform((await import("./db-integrity.ts")).integrityCheckCommand, { json: options.json }));
}
