import { z } from "zod";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { takeFullBackup } from "./backup/full-backup.ts";
import { damagedBackups, listBackups, readDrills, resolveSource, SourceNotFound, type StoredBackup } from "./backup/backup-store.ts";
import { ManifestError } from "./backup/manifest.ts";
import { drillBackup } from "./backup/restore.service.ts";
import { RestoreRefused, verifyFiles } from "./backup/restore-scratch.ts";
import { BackupKeyError } from "./backup/sealed-file.ts";
import { ToolError } from "./backup/postgres-tools.ts";
import { isConfigured, pgbackrestPaths } from "./backup/pgbackrest.ts";
import { pgbackrestBackup } from "./pitr.ts";
import { uploadBackup } from "./backup/s3-backups.ts";

const kindArgs = z.object({ kind: z.enum(["full", "emergency"]), json: z.boolean().default(false) });

/** Expected failures of backup work, said plainly (exit 1), instead of a stack trace. */
export function explainBackupFailure(error: unknown, io: CommandIO): number {
  if (error instanceof RestoreRefused) {
    io.err(error.message);
    for (const problem of error.problems) io.err(`  - ${problem}`);
    return 1;
  }
  if (error instanceof SourceNotFound || error instanceof ManifestError || error instanceof BackupKeyError || error instanceof ToolError) {
    io.err(error.message);
    return 1;
  }
  throw error;
}

const human = (bytes: number) => (bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** `azora backup full|emergency`: a logical full backup; emergency ones are exempt from retention. */
export const backupFullCommand: PlatformCommand<z.input<typeof kindArgs>> = {
  name: "backup full",
  async run(context, rawArgs, io) {
    const { kind, json } = kindArgs.parse(rawArgs);
    try {
      const { backup, expired } = await takeFullBackup(context, kind, io);
      // Where pgBackRest is set up, a full backup is also its base for incrementals and point-in-time recovery.
      const physical = context.config.database.url && (await isConfigured(context.config));
      if (physical) await pgbackrestBackup(context.config, "full", io);
      // With a bucket configured the backup leaves the machine: a lost disk must not take the backups with it.
      const remote = context.config.s3 ? await uploadBackup(context.config.s3, backup) : undefined;
      const { manifest } = backup;
      if (json) {
        io.out(JSON.stringify({ id: manifest.id, kind, path: backup.dir, ...(remote ? { remote } : {}), sizeBytes: manifest.sizeBytes, tables: manifest.tables.length, encrypted: Boolean(manifest.encryption), expired }));
        return 0;
      }
      const rows = manifest.tables.reduce((sum, table) => sum + table.rows, 0);
      io.out(`${kind === "emergency" ? "Emergency backup" : "Full backup"} ${manifest.id} written: ${manifest.tables.length} tables, ${rows} rows, ${human(manifest.sizeBytes)}${manifest.encryption ? ", encrypted" : ", NOT encrypted (set BACKUP_KEY)"}.`);
      io.out(`Location: ${backup.dir}`);
      if (remote) io.out(`Copied to ${remote}`);
      if (kind === "emergency") io.out("Emergency backups are kept until you delete them.");
      if (physical) io.out(`pgBackRest full backup stored in ${pgbackrestPaths(context.config).repo}.`);
      if (expired.length > 0) io.out(`Retention removed ${expired.length} older backup(s): ${expired.join(", ")}`);
      return 0;
    } catch (error) {
      return explainBackupFailure(error, io);
    }
  },
};

const drillArgs = z.object({ reference: z.string().default("latest"), json: z.boolean().default(false) });

/** `azora backup drill [ID]`: restores into a scratch database, compares with the manifest, records the recovery time. */
export const backupDrillCommand: PlatformCommand<z.input<typeof drillArgs>> = {
  name: "backup drill",
  async run(context, rawArgs, io) {
    const { reference, json } = drillArgs.parse(rawArgs);
    try {
      const source = await resolveSource(context.config.paths.backups, reference);
      if (source.type !== "backup") {
        io.err("A drill checks a backup against its manifest: give a backup id, a backup directory or latest.");
        return 2;
      }
      const record = await drillBackup(context, source, io);
      if (json) io.out(JSON.stringify(record));
      else if (record.ok) io.out(`Drill passed: ${record.backupId} restored into a scratch database and matches its manifest (recovery ${record.recoverySeconds.toFixed(1)} s).`);
      else {
        io.err(`Drill FAILED for ${record.backupId}:`);
        for (const problem of record.problems) io.err(`  - ${problem}`);
      }
      return record.ok ? 0 : 1;
    } catch (error) {
      return explainBackupFailure(error, io);
    }
  },
};

/** `azora backup list`: every complete backup, newest first. Reads the store only (no database). */
export async function listCommand(config: Config, options: { json: boolean }, io: CommandIO): Promise<number> {
  const backups = await listBackups(config.paths.backups);
  if (options.json) {
    io.out(JSON.stringify(backups.map(({ dir, manifest }) => ({ id: manifest.id, kind: manifest.kind, createdAt: manifest.createdAt, engine: manifest.engine, schemaVersion: manifest.schemaVersion, sizeBytes: manifest.sizeBytes, encrypted: Boolean(manifest.encryption), keep: manifest.keep, path: dir }))));
    return 0;
  }
  if (backups.length === 0) {
    io.out(`No backups in ${config.paths.backups} yet (azora backup full takes one).`);
    return 0;
  }
  for (const { manifest } of backups) {
    io.out(`${manifest.id}  ${manifest.kind.padEnd(9)}  ${manifest.createdAt}  ${manifest.engine.padEnd(8)}  ${human(manifest.sizeBytes).padStart(10)}${manifest.encryption ? "  encrypted" : ""}${manifest.keep ? "  kept" : ""}`);
  }
  const [drill] = await readDrills(config.paths.backups);
  if (drill) io.out(`Last drill: ${drill.at} on ${drill.backupId}: ${drill.ok ? "passed" : "FAILED"}.`);
  return 0;
}

/** `azora backup verify [ID|--all]`: manifests and checksums; names each bad file and exits 1 if any. */
export async function verifyCommand(config: Config, options: { reference?: string; all: boolean; json: boolean }, io: CommandIO): Promise<number> {
  const root = config.paths.backups;
  try {
    const targets: StoredBackup[] = [];
    if (options.all) targets.push(...(await listBackups(root)));
    else {
      const source = await resolveSource(root, options.reference ?? "latest");
      if (source.type !== "backup") throw new SourceNotFound("verify checks backups against their manifest; a plain .sql file has none");
      targets.push(source.backup);
    }
    const results: { id: string; problems: string[] }[] = [];
    for (const backup of targets) results.push({ id: backup.manifest.id, problems: await verifyFiles(backup) });
    if (options.all) for (const damaged of await damagedBackups(root)) results.push({ id: damaged.dir, problems: [damaged.problem] });
    if (results.length === 0) {
      io.err(`There are no backups in ${root} to verify: take one with azora backup full.`);
      return 1;
    }
    const bad = results.filter((result) => result.problems.length > 0);
    if (options.json) io.out(JSON.stringify({ ok: bad.length === 0, backups: results }));
    else {
      for (const result of results) {
        if (result.problems.length === 0) io.out(`OK   ${result.id}`);
        else {
          io.err(`BAD  ${result.id}`);
          for (const problem of result.problems) io.err(`  - ${problem}`);
        }
      }
      io.out(bad.length === 0 ? `All ${results.length} backup(s) verified.` : `${bad.length} of ${results.length} backup(s) are damaged.`);
    }
    return bad.length === 0 ? 0 : 1;
  } catch (error) {
    return explainBackupFailure(error, io);
  }
}
