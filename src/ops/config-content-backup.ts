import { z } from "zod";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { ContentPoolRefused, listContentBackups, pruneContentPool, restoreContent, takeContentBackup } from "./backup/content-backup.ts";
import { cliActor, recordAudit } from "../platform/audit/audit.service.ts";
import { resolveConfigBackup, restoreConfigBackup, takeConfigBackup } from "./backup/config-backup.ts";
import { SourceNotFound } from "./backup/backup-store.ts";
import { BackupKeyError } from "./backup/sealed-file.ts";
import { explainBackupFailure } from "./backup.ts";

/** `azora backup config`: secrets and settings files, always encrypted; exit 2 without a key. */
export async function backupConfigCommand(config: Config, options: { json: boolean }, io: CommandIO): Promise<number> {
  try {
    const taken = await takeConfigBackup(config, new Date());
    if (options.json) io.out(JSON.stringify(taken));
    else io.out(`Config backup ${taken.id} written (${taken.files.length} files, encrypted). Location: ${taken.path}`);
    return 0;
  } catch (error) {
    if (error instanceof BackupKeyError) {
      io.err(error.message);
      return 2;
    }
    throw error;
  }
}

/** `azora restore config [ID|PATH|latest]`: puts the secrets back; the running platform reads them at its next start. */
export async function restoreConfigCommand(config: Config, options: { reference: string; dryRun: boolean; json: boolean }, io: CommandIO): Promise<number> {
  try {
    const path = await resolveConfigBackup(config, options.reference);
    const restored = await restoreConfigBackup(config, path, { dryRun: options.dryRun, now: new Date() });
    if (options.json) io.out(JSON.stringify({ ...restored, dryRun: options.dryRun }));
    else if (options.dryRun) io.out(`Dry run: config backup ${restored.id} would restore ${restored.files.join(", ")}. Nothing was changed.`);
    else {
      io.out(`Restored config backup ${restored.id}: ${restored.files.join(", ")}.`);
      if (restored.kept.length > 0) io.out(`Replaced files are kept as ${restored.kept.join(", ")}.`);
      io.out("Restart azora up (or every azora serve process) so it reads the restored secrets.");
    }
    // Not in the audit log: this command runs without the database (it restores what opens it).
    return 0;
  } catch (error) {
    return explainBackupFailure(error, io);
  }
}

const contentBackupArgs = z.object({ json: z.boolean().default(false) });

/**
 * `azora backup content`: attachment files into the content pool, copying only what the previous backup lacks;
 * then retention expires older content manifests and the pool files only they named (audited when it removes any).
 */
export const backupContentCommand: PlatformCommand<z.input<typeof contentBackupArgs>> = {
  name: "backup content",
  async run(context, rawArgs, io) {
    const { json } = contentBackupArgs.parse(rawArgs);
    const { manifest, retention } = await takeContentBackup(context, io);
    const pruned = "failed" in retention ? undefined : retention;
    if (pruned && (pruned.expired.length > 0 || pruned.unreferenced.length > 0)) {
      await recordAudit(context, { actor: io.actor ?? cliActor(), action: "backup.content.prune", target: "content-pool", details: { expired: pruned.expired, removed: pruned.unreferenced.length, kept: pruned.kept } });
    }
    if ("failed" in retention) io.err(`Retention of content backups did not run: ${retention.failed}`);
    if (json) {
      io.out(JSON.stringify({ id: manifest.id, createdAt: manifest.createdAt, destination: manifest.destination, blobs: manifest.blobs.length, copied: manifest.copied, expired: pruned?.expired ?? [], removed: pruned?.unreferenced.length ?? 0 }));
      return 0;
    }
    io.out(`Content backup ${manifest.id} written: ${manifest.blobs.length} files, ${manifest.copied} new since the previous content backup (${manifest.destination === "s3" ? "S3 bucket" : "DATA_DIR/backups/content"}).`);
    if (pruned && pruned.expired.length > 0) io.out(`Retention removed ${pruned.expired.length} older content backup(s) (${pruned.expired.join(", ")}) and ${pruned.unreferenced.length} file(s) only they named.`);
    return 0;
  },
};

const contentRestoreArgs = z.object({ reference: z.string().min(1).default("latest"), dryRun: z.boolean().default(false), json: z.boolean().default(false) });

/** `azora restore content [ID|latest]`: brings back the attachment files the live database names. */
export const restoreContentCommand: PlatformCommand<z.input<typeof contentRestoreArgs>> = {
  name: "restore content",
  async run(context, rawArgs, io) {
    const { reference, dryRun, json } = contentRestoreArgs.parse(rawArgs);
    try {
      const backups = await listContentBackups(context);
      const manifest = reference === "latest" ? backups[0] : backups.find((backup) => backup.id === reference);
      if (!manifest) throw new SourceNotFound(reference === "latest" ? "there is no content backup yet: take one with azora backup content" : `no content backup with the id ${reference}`);
      if (dryRun) {
        io.out(`Dry run: content backup ${manifest.id} holds ${manifest.blobs.length} files; those the database names and the store lacks would be copied back. Nothing was changed.`);
        return 0;
      }
      const outcome = await restoreContent(context, manifest, io);
      if (json) io.out(JSON.stringify({ id: manifest.id, ...outcome }));
      else {
        io.out(`Restored content backup ${manifest.id}: ${outcome.restored} files copied back, ${outcome.present} already there.`);
        if (outcome.unreferenced > 0) io.out(`${outcome.unreferenced} files no attachment names any more (deleted or erased since) were left out.`);
      }
      return 0;
    } catch (error) {
      return explainBackupFailure(error, io);
    }
  },
};

const pruneArgs = z.object({ dryRun: z.boolean().default(false), json: z.boolean().default(false) });

/** `azora backup prune-content [--dry-run]`: removes content pool files no content backup names; audited. */
export const pruneContentCommand: PlatformCommand<z.input<typeof pruneArgs>> = {
  name: "backup prune-content",
  async run(context, rawArgs, io) {
    const { dryRun, json } = pruneArgs.parse(rawArgs);
    try {
      const { expired, unreferenced, kept } = await pruneContentPool(context, { dryRun });
      if (!dryRun) {
        await recordAudit(context, { actor: io.actor ?? cliActor(), action: "backup.content.prune", target: "content-pool", details: { expired, removed: unreferenced.length, kept } });
      }
      if (json) io.out(JSON.stringify({ dryRun, expired, unreferenced, kept }));
      else {
        if (expired.length > 0) {
          io.out(`${dryRun ? "Dry run: retention would remove" : "Retention removed"} ${expired.length} content backup(s) past BACKUP_KEEP_DAILY / BACKUP_KEEP_HOURLY:`);
          for (const id of expired) io.out(`  ${id}`);
        }
        if (unreferenced.length === 0) io.out(`The content pool holds ${kept} files, each named by a content backup: nothing to prune.`);
        else {
          io.out(`${dryRun ? "Dry run: would remove" : "Removed"} ${unreferenced.length} file(s) no ${expired.length > 0 ? "remaining " : ""}content backup names (${kept} kept):`);
          for (const key of unreferenced) io.out(`  ${key}`);
        }
        if (dryRun && (expired.length > 0 || unreferenced.length > 0)) io.out("Nothing was changed.");
      }
      return 0;
    } catch (error) {
      if (error instanceof ContentPoolRefused) {
        io.err(error.message);
        return 1;
      }
      throw error;
    }
  },
};
