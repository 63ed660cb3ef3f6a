import { access, constants, readFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import { reportProgress } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { archiveCommand, configuredDataDir, isConfigured, missingServerSettings, newestBackupSize, pgbackrest, pgbackrestPaths, recordRun, serverSettings, writeConfiguration } from "./backup/pgbackrest.ts";
import { runTool, ToolError } from "./backup/postgres-tools.ts";

export const EMBEDDED_HAS_FULL_ONLY =
  "On the embedded default only logical full backups exist (azora backup full); incremental backups and point-in-time recovery need PostgreSQL with pgBackRest (set DATABASE_URL, then azora backup setup).";

/** `azora backup setup`: writes the stanza configuration and says exactly what the server still needs. */
export const backupSetupCommand: PlatformCommand<{ pgData?: string }> = {
  name: "backup setup",
  async run(context, args, io) {
    const { config } = context;
    if (!config.database.url) {
      io.err(EMBEDDED_HAS_FULL_ONLY);
      return 2;
    }
    const server = await serverSettings(context.db);
    const pgData = args.pgData ?? server.dataDirectory;
    if (!pgData) {
      io.err("The server does not tell its data directory to this user: pass --pg-data /path/to/the/data/directory.");
      return 2;
    }
    await writeConfiguration(config, server, pgData);
    io.out(`Wrote ${pgbackrestPaths(config).conf} (stanza azora, repository ${pgbackrestPaths(config).repo}).`);
    const missing = missingServerSettings(config, server);
    if (missing.length > 0) {
      io.out("PostgreSQL must archive its WAL through pgBackRest. Set these in postgresql.conf (on the database server):");
      for (const line of missing) io.out(`  ${line}`);
      io.out("then restart PostgreSQL (wal_level and archive_mode need a restart) and run azora backup setup again.");
      return 1;
    }
    try {
      await pgbackrest(config, ["stanza-create"]);
      await pgbackrest(config, ["check"]);
    } catch (error) {
      if (error instanceof ToolError) {
        io.err(`pgBackRest could not use the server: ${error.message}`);
        io.err("azora backup setup must run on the database server as the user that owns the data directory (usually postgres).");
        return 1;
      }
      throw error;
    }
    io.out(`Stanza azora is ready: WAL is archived with ${archiveCommand(config)}; azora backup full|incremental now drive pgBackRest.`);
    return 0;
  },
};

/** A pgBackRest backup of the given type, recorded for the freshness metrics. */
export async function pgbackrestBackup(config: Config, kind: "full" | "incremental", io: CommandIO): Promise<void> {
  const started = Date.now();
  reportProgress(io, { done: 0, total: 1, label: `pgBackRest ${kind} backup` });
  await pgbackrest(config, [`--type=${kind === "full" ? "full" : "incr"}`, "backup"]);
  const sizeBytes = await newestBackupSize(config).catch(() => 0);
  await recordRun(config, kind, { at: new Date(started).toISOString(), durationSeconds: (Date.now() - started) / 1000, sizeBytes });
  reportProgress(io, { done: 1, total: 1, label: `pgBackRest ${kind} backup` });
}

/** `azora backup incremental`: pgBackRest incremental on PostgreSQL; exit 2 where it cannot exist. */
export async function incrementalCommand(config: Config, io: CommandIO): Promise<number> {
  if (!config.database.url) {
    io.err(EMBEDDED_HAS_FULL_ONLY);
    return 2;
  }
  if (!(await isConfigured(config))) {
    io.err("pgBackRest is not configured for this database: run azora backup setup first.");
    return 2;
  }
  try {
    await pgbackrestBackup(config, "incremental", io);
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    io.err(error.message);
    return 1;
  }
  io.out(`Incremental backup stored in ${pgbackrestPaths(config).repo} (pgbackrest info --config=${pgbackrestPaths(config).conf} lists them).`);
  return 0;
}

/** pg_ctl of the data directory's major version (Debian layout), else the one on PATH. */
async function pgCtlFor(pgData: string): Promise<string> {
  const major = (await readFile(join(pgData, "PG_VERSION"), "utf8")).trim();
  const debian = `/usr/lib/postgresql/${major}/bin/pg_ctl`;
  return access(debian, constants.X_OK).then(
    () => debian,
    () => "pg_ctl",
  );
}

/**
 * `azora restore --target-time`: stops the server, lets pgBackRest restore and replay WAL up to that
 * moment, starts it and waits for it to be promoted. Where this process cannot stop the server
 * (another machine, another user), it prints the exact steps instead.
 */
export async function pointInTimeRestore(config: Config, options: { targetTime: string; pgData?: string }, io: CommandIO): Promise<number> {
  if (!config.database.url) {
    io.err(EMBEDDED_HAS_FULL_ONLY);
    return 2;
  }
  const target = new Date(options.targetTime);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(options.targetTime) || Number.isNaN(target.getTime())) {
    io.err(`--target-time must be an ISO 8601 time such as 2026-11-28T14:05:00Z, not "${options.targetTime}".`);
    return 2;
  }
  if (!(await isConfigured(config))) {
    io.err("Point-in-time recovery needs pgBackRest: run azora backup setup, then take a full backup.");
    return 2;
  }
  const pgData = options.pgData ?? (await configuredDataDir(config));
  const targetText = target.toISOString().replace("T", " ").replace("Z", "+00");
  const restoreArgs = ["--delta", "--type=time", `--target=${targetText}`, "--target-action=promote", "restore"];
  const canAct = await access(pgData, constants.W_OK).then(
    () => true,
    () => false,
  );
  if (!canAct) {
    io.err(`This process cannot write ${pgData}, so it cannot stop and restore the server itself. On the database server, as its owner:`);
    io.err(`  1. pg_ctl stop -D ${pgData} -m fast   (or systemctl stop postgresql)`);
    io.err(`  2. pgbackrest --config=${pgbackrestPaths(config).conf} --stanza=azora ${restoreArgs.map((arg) => (arg.includes(" ") ? `"${arg}"` : arg)).join(" ")}`);
    io.err(`  3. pg_ctl start -D ${pgData}   (it replays WAL up to ${targetText} and is promoted)`);
    io.err("  4. azora gdpr replay-ledger   (erases again everyone erased after that moment; run it before the platform serves writes)");
    return 1;
  }
  const pgCtl = await pgCtlFor(pgData);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME };
  reportProgress(io, { done: 1, total: 3, label: "stopping PostgreSQL" });
  await runTool(pgCtl, ["stop", "-D", pgData, "-m", "fast", "-w"], env);
  try {
    reportProgress(io, { done: 2, total: 3, label: `restoring to ${targetText}` });
    await pgbackrest(config, restoreArgs);
  } finally {
    reportProgress(io, { done: 3, total: 3, label: "starting PostgreSQL and replaying WAL" });
    await runTool(pgCtl, ["start", "-D", pgData, "-w", "-t", "300", "-l", join(pgbackrestPaths(config).log, "postgresql-start.log")], env);
  }
  await waitForPromotion(config.database.url);
  io.out(`Recovered to ${targetText}: PostgreSQL replayed the archived WAL up to that moment and accepts writes again.`);
  return 0;
}

async function waitForPromotion(url: string): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
      if (rows[0]?.r === false) return;
    } catch {
      // Still starting or replaying.
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  throw new ToolError("PostgreSQL did not finish recovery within 5 minutes: look at its log");
}
