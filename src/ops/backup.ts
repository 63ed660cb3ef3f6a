import { z } from "zod";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { takeFullBackup } from "./backup/full-backup.ts";
import { damagedBackups, listBackups, readDrills, resolveSource, SourceNotFound, type StoredBackup } from "./backup/backup-store.ts";
import { ManifestError, type Manifest } from "./backup/manifest.ts";
import { drillBackup } from "./backup/restore.service.ts";
import { RestoreRefused, verifyFiles } from "./backup/restore-scratch.ts";
import { BackupKeyError } from "./backup/sealed-file.ts";
import { ToolError } from "./backup/postgres-tools.ts";
import { isConfigured, pgbackrestPaths, verifyRepository } from "./backup/pgbackrest.ts";
import { pgbackrestBackup } from "./pitr.ts";
import { applyRemoteRetention, listRemoteManifests, S3_DATABASE_BACKUP_PREFIX, uploadBackup, verifyRemoteBackup, type RemoteBackup } from "./backup/s3-backups.ts";

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
      // The bucket has its own retention (BACKUP_S3_KEEP_*, by default the local one); emergency backups exempt.
      // The backup is taken and copied by then: a retention failure is a warning, not a failed backup.
      const expiredRemote = context.config.s3
        ? await applyRemoteRetention(context.config.s3, context.config.backup.bucket, new Date(context.clock.now())).catch((error: unknown) => {
            io.err(`Retention in the bucket failed (${error instanceof Error ? error.message : String(error)}); older backups there were kept.`);
            return [] as string[];
          })
        : [];
      const { manifest } = backup;
      if (json) {
        io.out(JSON.stringify({ id: manifest.id, kind, path: backup.dir, ...(remote ? { remote, expiredRemote } : {}), sizeBytes: manifest.sizeBytes, tables: manifest.tables.length, encrypted: Boolean(manifest.encryption), expired }));
        return 0;
      }
      const rows = manifest.tables.reduce((sum, table) => sum + table.rows, 0);
      io.out(`${kind === "emergency" ? "Emergency backup" : "Full backup"} ${manifest.id} written: ${manifest.tables.length} tables, ${rows} rows, ${human(manifest.sizeBytes)}${manifest.encryption ? ", encrypted" : ", NOT encrypted (set BACKUP_KEY)"}.`);
      io.out(`Location: ${backup.dir}`);
      if (remote) io.out(`Copied to ${remote}`);
      if (kind === "emergency") io.out("Emergency backups are kept until you delete them.");
      if (physical) io.out(`pgBackRest full backup stored in ${pgbackrestPaths(context.config).repo}.`);
      if (expired.length > 0) io.out(`Retention removed ${expired.length} older backup(s): ${expired.join(", ")}`);
      if (expiredRemote.length > 0) io.out(`Retention removed ${expiredRemote.length} older backup(s) from s3://${context.config.s3?.bucket}/${S3_DATABASE_BACKUP_PREFIX}: ${expiredRemote.join(", ")}`);
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

interface ListedBackup {
  manifest: Manifest;
  /** The local copy's directory. */
  path?: string;
  /** The copy in the bucket. */
  remote?: string;
}

/** Local backups and those in the bucket (S3_BUCKET), one entry per id, newest first. */
async function listEverywhere(config: Config, io: CommandIO): Promise<{ backups: ListedBackup[]; bucketFailed: boolean }> {
  const byId = new Map<string, ListedBackup>();
  for (const { dir, manifest } of await listBackups(config.paths.backups)) byId.set(manifest.id, { manifest, path: dir });
  let bucketFailed = false;
  if (config.s3) {
    try {
      for (const { manifest, location } of (await listRemoteManifests(config.s3)).backups) {
        const known = byId.get(manifest.id);
        byId.set(manifest.id, known ? { ...known, remote: location } : { manifest, remote: location });
      }
    } catch (error) {
      bucketFailed = true;
      io.err(`The bucket ${config.s3.bucket} could not be listed (${error instanceof Error ? error.message : String(error)}): only local backups are shown.`);
    }
  }
  const backups = [...byId.values()].sort((a, b) => b.manifest.createdAt.localeCompare(a.manifest.createdAt) || b.manifest.id.localeCompare(a.manifest.id));
  return { backups, bucketFailed };
}

const whereText = (backup: ListedBackup) => (backup.path && backup.remote ? "local+s3" : backup.remote ? "s3 only" : "local");

/** `azora backup list`: every complete backup, local and in the bucket, newest first. Reads the stores only (no database). */
export async function listCommand(config: Config, options: { json: boolean }, io: CommandIO): Promise<number> {
  const { backups, bucketFailed } = await listEverywhere(config, io);
  if (options.json) {
    io.out(
      JSON.stringify(
        backups.map(({ manifest, path, remote }) => ({
          id: manifest.id,
          kind: manifest.kind,
          createdAt: manifest.createdAt,
          engine: manifest.engine,
          schemaVersion: manifest.schemaVersion,
          sizeBytes: manifest.sizeBytes,
          encrypted: Boolean(manifest.encryption),
          keep: manifest.keep,
          ...(path ? { path } : {}),
          ...(remote ? { remote } : {}),
        })),
      ),
    );
    return bucketFailed ? 1 : 0;
  }
  if (backups.length === 0) {
    io.out(`No backups in ${config.paths.backups}${config.s3 ? ` or s3://${config.s3.bucket}/${S3_DATABASE_BACKUP_PREFIX}` : ""} yet (azora backup full takes one).`);
    return bucketFailed ? 1 : 0;
  }
  for (const backup of backups) {
    const { manifest } = backup;
    const where = config.s3 ? `  ${whereText(backup).padEnd(8)}` : "";
    io.out(`${manifest.id}  ${manifest.kind.padEnd(9)}  ${manifest.createdAt}  ${manifest.engine.padEnd(8)}  ${human(manifest.sizeBytes).padStart(10)}${where}${manifest.encryption ? "  encrypted" : ""}${manifest.keep ? "  kept" : ""}`);
  }
  const [drill] = await readDrills(config.paths.backups);
  if (drill) io.out(`Last drill: ${drill.at} on ${drill.backupId}: ${drill.ok ? "passed" : "FAILED"}.`);
  return bucketFailed ? 1 : 0;
}

interface VerifyResult {
  id: string;
  /** The backup directory, or its location in the bucket. */
  location: string;
  problems: string[];
}

/**
 * `azora backup verify [ID|--all]`: manifests and checksums of the local copies and, with S3_BUCKET, of the
 * copies in the bucket (downloaded and hashed); plus `pgbackrest verify` where pgBackRest is set up.
 * Names each bad file and exits 1 if any.
 */
export async function verifyCommand(config: Config, options: { reference?: string; all: boolean; json: boolean }, io: CommandIO): Promise<number> {
  const root = config.paths.backups;
  try {
    const results: VerifyResult[] = [];
    const local: StoredBackup[] = [];
    let remote: RemoteBackup[] = [];
    let remoteListing: Awaited<ReturnType<typeof listRemoteManifests>> = { backups: [], damaged: [] };
    if (config.s3) {
      try {
        remoteListing = await listRemoteManifests(config.s3);
      } catch (error) {
        // An unreachable bucket is a failed check of the copies there, not a reason to skip the local ones.
        const location = `s3://${config.s3.bucket}/${S3_DATABASE_BACKUP_PREFIX}`;
        results.push({ id: "s3", location, problems: [`the bucket cannot be listed: ${error instanceof Error ? error.message : String(error)}`] });
      }
    }
    const reference = options.reference ?? "latest";
    if (options.all) {
      local.push(...(await listBackups(root)));
      remote = remoteListing.backups;
    } else if (config.s3 && (reference === "latest" || isBackupId(reference))) {
      // Both copies of the backup asked for (latest: the newest of either store).
      const localAll = await listBackups(root);
      const newest = [...localAll.map((backup) => backup.manifest), ...remoteListing.backups.map((backup) => backup.manifest)].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id))[0];
      const id = reference === "latest" ? newest?.id : reference;
      local.push(...localAll.filter((backup) => backup.manifest.id === id));
      remote = remoteListing.backups.filter((backup) => backup.manifest.id === id);
      if (local.length === 0 && remote.length === 0) {
        throw new SourceNotFound(id ? `no backup with the id ${id} in ${root} or s3://${config.s3.bucket}/${S3_DATABASE_BACKUP_PREFIX} (azora backup list shows them)` : `there is no backup in ${root} or the bucket yet: take one with azora backup full`);
      }
    } else {
      const source = await resolveSource(root, reference);
      if (source.type !== "backup") throw new SourceNotFound("verify checks backups against their manifest; a plain .sql file has none");
      local.push(source.backup);
    }
    for (const backup of local) results.push({ id: backup.manifest.id, location: backup.dir, problems: await verifyFiles(backup) });
    for (const backup of remote) {
      if (!options.json) io.err(`Downloading ${backup.location} to check it…`);
      const problems = await verifyRemoteBackup(config.s3 as NonNullable<Config["s3"]>, backup).catch((error: unknown) => [`${backup.location}: cannot be read: ${error instanceof Error ? error.message : String(error)}`]);
      results.push({ id: backup.manifest.id, location: backup.location, problems });
    }
    if (options.all) {
      for (const damaged of await damagedBackups(root)) results.push({ id: damaged.dir, location: damaged.dir, problems: [damaged.problem] });
      for (const damaged of remoteListing.damaged) results.push({ id: damaged.location, location: damaged.location, problems: [damaged.problem] });
    }
    const repository = options.all || !options.reference ? await verifyPgbackrestRepository(config) : undefined;
    if (repository) results.push(repository);
    if (results.length === 0) {
      io.err(`There are no backups in ${root} to verify: take one with azora backup full.`);
      return 1;
    }
    const bad = results.filter((result) => result.problems.length > 0);
    if (options.json) io.out(JSON.stringify({ ok: bad.length === 0, backups: results }));
    else {
      for (const result of results) {
        const name = result.location.startsWith("s3://") || result.id === PGBACKREST_RESULT_ID ? `${result.id}  ${result.location}` : result.id;
        if (result.problems.length === 0) io.out(`OK   ${name}`);
        else {
          io.err(`BAD  ${name}`);
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

const isBackupId = (reference: string) => /^[0-9TZ]+-[a-z]+-[0-9a-f]+$/.test(reference);

/** How the pgBackRest repository appears among verify's results. */
const PGBACKREST_RESULT_ID = "pgbackrest";

/** `pgbackrest verify` where pgBackRest is set up (PostgreSQL after azora backup setup); undefined elsewhere. */
async function verifyPgbackrestRepository(config: Config): Promise<VerifyResult | undefined> {
  if (!config.database.url || !(await isConfigured(config))) return undefined;
  const location = pgbackrestPaths(config).repo;
  try {
    return { id: PGBACKREST_RESULT_ID, location, problems: await verifyRepository(config) };
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    return { id: PGBACKREST_RESULT_ID, location, problems: [`pgbackrest verify could not run: ${error.message}`] };
  }
}
