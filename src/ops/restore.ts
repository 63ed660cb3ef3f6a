import { z } from "zod";
import type { PlatformCommand } from "../platform/command.ts";
import type { PlatformContext } from "../platform/context.ts";
import { recordInvalidations } from "../platform/cache/invalidation-log.repository.ts";
import { userCacheKey } from "../services/users/users.service.ts";
import { resolveSource } from "./backup/backup-store.ts";
import { restoreBackup } from "./backup/restore.service.ts";
import { fetchFromBucketIfNewer, S3_DATABASE_BACKUP_PREFIX } from "./backup/s3-backups.ts";
import { explainBackupFailure } from "./backup.ts";

const restoreArgs = z.object({
  reference: z.string().min(1),
  dryRun: z.boolean().default(false),
  json: z.boolean().default(false),
  /** More places holding the attachment files (moving between local files and S3): see blob-sources.ts. */
  blobsFrom: z.array(z.string().min(1)).default([]),
});

/** Cached profiles of users before and after the swap would answer from the replaced database: drop them. */
async function userIds(context: PlatformContext): Promise<string[]> {
  return (await context.db.query<{ id: string }>("SELECT id::text AS id FROM users").catch(() => [])).map((row) => row.id);
}

/**
 * `azora restore ID|PATH|latest`: the live database is replaced only by a copy that loaded completely and
 * matches its manifest; the replaced one is kept. The CLI asks for confirmation before it gets here.
 */
export const restoreCommand: PlatformCommand<z.input<typeof restoreArgs>> = {
  name: "restore",
  // Moving to the embedded default on a new machine: the restore is the installation's first step.
  createsInstallation: true,
  // A stopped restore stops its pg_restore or psql and drops its copy; the live database is not touched.
  stopsOnSignal: true,
  async run(context, rawArgs, io) {
    const { reference, dryRun, json, blobsFrom } = restoreArgs.parse(rawArgs);
    try {
      if (context.config.s3) {
        const fetched = await fetchFromBucketIfNewer(context.config.s3, context.config.paths.backups, reference);
        if (fetched) {
          const note = `Fetched backup ${fetched} from s3://${context.config.s3.bucket}/${S3_DATABASE_BACKUP_PREFIX}${fetched}/.`;
          // With --json, stdout carries only the one JSON document: the note goes to stderr.
          if (json) io.err(note);
          else io.out(note);
        }
      }
      const source = await resolveSource(context.config.paths.backups, reference);
      const label = source.type === "backup" ? `backup ${source.backup.manifest.id} (${source.backup.manifest.createdAt})` : `SQL file ${source.file}`;
      if (dryRun) {
        if (json) {
          io.out(JSON.stringify({ dryRun: true, source: source.type === "backup" ? source.backup.manifest.id : source.file, changed: false }));
          return 0;
        }
        io.out(`Dry run: would restore ${label} into a new ${context.config.database.url ? "database" : "directory"}, check it, and swap it in. Nothing was changed.`);
        return 0;
      }
      const before = await userIds(context);
      const outcome = await restoreBackup(context, source, io, { blobsFrom, signal: io.signal });
      const after = await userIds(context);
      const keys = [...new Set([...before, ...after])].map(userCacheKey);
      // Recorded in the restored database, so every serving process drops them too, even if the cache
      // cannot be reached from here (the restore is done either way; a failed delete is not a failure).
      for (let start = 0; start < keys.length; start += 500) {
        const chunk = keys.slice(start, start + 500);
        await context.db.transaction((tx) => recordInvalidations(tx, chunk));
        await context.coherentCache.invalidate(...chunk);
      }
      if (json) io.out(JSON.stringify({ restored: source.type === "backup" ? source.backup.manifest.id : source.file, ...outcome }));
      else {
        io.out(`Restored ${label}: ${outcome.tables} tables, ${outcome.rows} rows${outcome.checked ? ", row counts and checksums equal to the manifest" : ""}.`);
        io.out(`The replaced database is kept as ${outcome.previous}; remove it when you no longer need it.`);
        const { blobs } = outcome;
        io.out(`Attachment files: ${blobs.referenced} named by the restored database, ${blobs.copied} copied into the ${context.blobs.kind === "s3" ? "S3 bucket" : "local blob store"}, ${blobs.present} already there.`);
        if (blobs.missing.length > 0) {
          io.err(`${blobs.missing.length} attachment file(s) were found nowhere (looked in ${blobs.searched.join(", ")}): bring them with azora restore content, or run the restore again with --blobs-from naming where they are.`);
        }
        io.out(`GDPR deletion ledger replayed before the restored database served: ${outcome.ledger.entries} erasures known, ${outcome.ledger.erasedAgain} accounts erased again.`);
      }
      return 0;
    } catch (error) {
      return explainBackupFailure(error, io);
    }
  },
};
