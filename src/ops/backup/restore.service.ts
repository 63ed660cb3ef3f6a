import { reportProgress, type CommandIO } from "../../platform/command.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { readDeletionLedger, replayLedgerOnCopy } from "../../services/gdpr/deletion-ledger.ts";
import { createBlobReferences } from "../../services/users/blob-references.ts";
import { holdMaintenanceForRestore, recoverInterruptedRestore, runningRestore } from "./restore-maintenance.ts";
import type { PlatformContext } from "../../platform/context.ts";
import type { Db } from "../../platform/db/db.ts";
import { migrate } from "../../platform/db/migrator.ts";
import { createAuditRepository } from "../../platform/audit/audit.repository.ts";
import { cliActor, recordAudit, resetAnchor } from "../../platform/audit/audit.service.ts";
import { isEmbedded } from "../../platform/db/pglite.ts";
import { recordDrill, type DrillRecord, type RestoreSource } from "./backup-store.ts";
import { databaseOf, swapDatabases } from "./postgres-engine.ts";
import { latestKnownSchema, loadScratchCopy, RestoreRefused, restoreStopped } from "./restore-scratch.ts";
import { readSchemaVersion } from "./table-stats.repository.ts";
import { blobSourcesFor, bringReferencedBlobs, type BlobMoveReport } from "./blob-sources.ts";
import { forgetInContentBackups } from "./content-erasure.ts";
import { removeLeftovers } from "./leftovers.ts";
import { acquireContentLock, contentLockHolderIsGone, describeContentLockHolder, isContentLockBusy } from "./content-lock.ts";

const stamp = (at: number) => new Date(at).toISOString().replace(/[-:T]/g, "").slice(0, 14);

export interface RestoreOutcome {
  /** Where the database that was replaced is kept (a directory or a database name). */
  previous: string;
  tables: number;
  rows: number;
  checked: boolean;
  /** The deletion ledger replayed on the copy before it served: erasures known, accounts erased again. */
  ledger: { entries: number; recorded: number; erasedAgain: number; blobsRemoved: number };
  /** Attachment files the restored database names, brought into this installation's blob store before the swap. */
  blobs: Omit<BlobMoveReport, "copiedKeys"> & { searched: string[] };
}

export interface RestoreOptions {
  /** More places to take attachment files from (a blob directory, s3://BUCKET/PREFIX, http(s)://ENDPOINT/BUCKET/PREFIX). */
  blobsFrom?: string[];
  /** Aborted when the restore must stop (SIGTERM, its caller gone): heeded until the swap, after which it completes. */
  signal?: AbortSignal;
}

/**
 * Restores a backup: loads it beside the live database, proves it against the manifest, migrates it to
 * this version's schema, replays the GDPR deletion ledger on it, and only then swaps it in. Maintenance
 * mode holds writes off from start to end. Any failure before the swap leaves the live database as it was.
 */
export async function restoreBackup(context: PlatformContext, source: RestoreSource, io: CommandIO, options: RestoreOptions = {}): Promise<RestoreOutcome> {
  const running = await runningRestore(context);
  if (running) throw new RestoreRefused(`another restore is running (process ${running.pid}, started ${running.startedAt}): wait for it to end; nothing was changed`);
  // A restore killed earlier (its process gone) left maintenance on and perhaps a copy: undone first.
  const recovered = await recoverInterruptedRestore(context, { atStart: false });
  if (recovered) io.err(`Before this restore: ${recovered}.`);
  await removeLeftovers(context, io);
  // Taken before maintenance mode, and without waiting: a content backup or prune that holds it would otherwise
  // keep public writes refused for as long as it runs. Held to the end, so no prune empties the pool the restore
  // reads files from, and the erased accounts' files leave the pool without waiting (ADR 0450).
  const refuseBusy = async (error: unknown): Promise<never> => {
    if (!isContentLockBusy(error)) throw error;
    throw new RestoreRefused(`the content backups are in use by ${await describeContentLockHolder(context)}: let it finish (or stop it), then restore again; maintenance mode was not switched on and nothing was changed`);
  };
  const releaseContentLock = await acquireContentLock(context, "a restore", { retries: 0 }).catch(async (error: unknown) => {
    if (!isContentLockBusy(error) || !(await contentLockHolderIsGone(context))) return refuseBusy(error);
    // Left by a killed backup, prune or restore (this one's predecessor, most often): it goes stale within a
    // minute, and waiting for that refuses no public request (maintenance mode is not on yet).
    io.err("The content lock was left by a process that no longer runs: waiting for it to go stale (up to a minute).");
    return acquireContentLock(context, "a restore", { retries: 15 }).catch(refuseBusy);
  });
  let blobSources: Awaited<ReturnType<typeof blobSourcesFor>>;
  try {
    // Opened first: a --blobs-from that names nothing refuses the restore before anything changes.
    blobSources = await blobSourcesFor(context, { backupDir: source.type === "backup" ? source.backup.dir : undefined, blobsFrom: options.blobsFrom ?? [] });
  } catch (error) {
    await releaseContentLock();
    throw error;
  }
  const closeSources = async () => {
    await Promise.all(blobSources.map((place) => place.store.close().catch(() => undefined)));
    await releaseContentLock();
  };
  const maintenance = await holdMaintenanceForRestore(context).catch(async (error: unknown) => {
    await closeSources();
    throw error;
  });
  let swapped = false;
  let copiedKeys: string[] = [];
  try {
    // Loaded while the gateways take up maintenance mode (ADR 0520): the copy is not the live database.
    const copy = await loadScratchCopy(context, source, "restore", io, options.signal);
    let ledger: Awaited<ReturnType<typeof replayLedgerOnCopy>>;
    let moved: BlobMoveReport;
    let previous: string;
    let replacedHead: ChainHead | undefined;
    try {
      if (copy.problems.length > 0) throw new RestoreRefused("the restored copy does not match the backup's manifest; the live database was not touched", copy.problems);
      // Every gateway refuses public writes from here on: an erasure that reached the live database before
      // they did is in the ledger read next.
      await maintenance.inForce;
      // Erasures recorded in the database being replaced must survive it, even without the ledger file.
      // (A live database without the ledger table reads as none; any other failure refuses the restore, because
      // going on would bring back people erased since the backup was taken.)
      const carried = await readDeletionLedger(context).catch((error: unknown) => {
        throw new RestoreRefused(`the live database's deletion ledger cannot be read (${error instanceof Error ? error.message : String(error)}); nothing was changed`);
      });
      const db = await copy.open();
      try {
        await bringSchemaUpToDate(db);
        reportProgress(io, { done: 1, total: 1, label: "replaying the GDPR deletion ledger" });
        ledger = await replayLedgerOnCopy(context, db, carried);
        // After the replay, so an erased person's files are never copied: every file the copy names is in
        // this installation's store before it serves (a move between local files and S3 brings them along).
        moved = await bringReferencedBlobs(db, context.blobs, blobSources, io);
        copiedKeys = moved.copiedKeys;
        await maintenance.carryInto(db);
      } finally {
        await db.close();
      }
      // The database being replaced may be empty (a move to a new PostgreSQL): then there is no chain to name.
      [replacedHead] = await createAuditRepository(context.db).latest(1).catch(() => []);
      // The last moment a stop can be heeded with nothing changed; once swapped, the restore completes.
      if (options.signal?.aborted) throw restoreStopped();
      previous = await swapIn(context, copy.location);
      swapped = true;
      await copy.settle();
    } catch (error) {
      // Only a copy that never went live is discarded: after the swap it is the serving database.
      if (!swapped) {
        await copy.discard().catch(() => undefined);
        // Files copied for a copy that never served: gone again unless the live database names them.
        await createBlobReferences(context.db, context.blobs).release(copiedKeys).catch(() => undefined);
      }
      throw error;
    }
    // The restore has happened: a failure to record it is a warning, not a failed restore to run again.
    await recordRestore(context, source, replacedHead, io).catch((error: unknown) => {
      io.err(`The restore succeeded but its audit entry could not be written (${error instanceof Error ? error.message : String(error)}): run azora audit verify.`);
    });
    // The copy serves now: files that only the erased named go (a content restore may have brought them back).
    // Not a sweep of every unnamed file: the replaced database is kept, and its files with it.
    const blobsRemoved = await createBlobReferences(context.db, context.blobs).release(ledger.blobKeys);
    // Their copies in the content backup pool go too: erasure reaches the backups of files (ADR 0332).
    await forgetInContentBackups(context, ledger.blobKeys, { retries: 0, lockHeld: true }).catch((error: unknown) => {
      io.err(`The erased accounts' files could not be removed from the content backup pool (${error instanceof Error ? error.message : String(error)}): run azora backup prune-content.`);
    });
    if (ledger.erasedAgain > 0 || ledger.recorded > 0) {
      context.logs.security.info({ event: LogEvent.GDPR_LEDGER_REPLAYED, entries: ledger.entries, recorded: ledger.recorded, erasedAgain: ledger.erasedAgain }, "deletion ledger replayed by a restore");
    }
    const { entries, recorded, erasedAgain } = ledger;
    const blobs = { referenced: moved.referenced, present: moved.present, copied: moved.copied, missing: moved.missing, searched: blobSources.map((place) => place.label) };
    return { previous, tables: copy.stats.length, rows: copy.stats.reduce((sum, table) => sum + table.rows, 0), checked: copy.checked, ledger: { entries, recorded, erasedAgain, blobsRemoved }, blobs };
  } finally {
    await closeSources();
    await maintenance.end(swapped).catch((error: unknown) => {
      io.err(`Maintenance mode could not be switched off after the restore (${error instanceof Error ? error.message : String(error)}): run azora maintenance off.`);
    });
  }
}

type ChainHead = { seq: number; hash: string };

/**
 * The chain is now the backup's: rows written since it was taken are in the replaced database only.
 * The restore's row names the replaced head, so the chain itself says where those rows went.
 */
async function recordRestore(context: PlatformContext, source: RestoreSource, replacedHead: ChainHead | undefined, io: CommandIO): Promise<void> {
  await resetAnchor(context);
  await recordAudit(context, {
    actor: io.actor ?? cliActor(),
    action: "backup.restore",
    target: "database",
    details: {
      source: source.type === "backup" ? source.backup.manifest.id : "sql-file",
      replacedChainHead: replacedHead ? { seq: replacedHead.seq, hash: replacedHead.hash } : null,
    },
  });
}

/** An older backup is migrated forward before it serves; a newer one (only knowable here for plain .sql files) is refused. */
async function bringSchemaUpToDate(db: Db): Promise<void> {
  const version = await readSchemaVersion(db).catch(() => "");
  const known = await latestKnownSchema();
  if (version > known) throw new RestoreRefused(`the backup has schema ${version}, newer than this Azora OS knows (${known}): restore it with a newer version`);
  await migrate(db);
}

async function swapIn(context: PlatformContext, location: string): Promise<string> {
  const { db, config, clock } = context;
  if (isEmbedded(db)) {
    const previous = `${config.paths.pg}.before-restore-${stamp(clock.now())}`;
    await db.swapDataDir(location, previous);
    return previous;
  }
  const url = config.database.url ?? "";
  const previous = `${databaseOf(url).slice(0, 36)}_prerestore_${stamp(clock.now())}`;
  await swapDatabases(url, location, previous);
  return previous;
}

/**
 * The backup test: restores a backup into a scratch database, compares it with the manifest, records the
 * recovery time, and throws the copy away. The live database is never touched.
 */
export async function drillBackup(context: PlatformContext, source: RestoreSource & { type: "backup" }, io: CommandIO): Promise<DrillRecord> {
  await removeLeftovers(context, io);
  const started = context.clock.now();
  const base = { at: new Date(started).toISOString(), backupId: source.backup.manifest.id };
  let record: DrillRecord;
  try {
    const copy = await loadScratchCopy(context, source, "drill", io);
    await copy.discard();
    record = { ...base, ok: copy.problems.length === 0, recoverySeconds: (context.clock.now() - started) / 1000, problems: copy.problems };
  } catch (error) {
    const problems = error instanceof RestoreRefused ? [error.message, ...error.problems] : [error instanceof Error ? error.message : String(error)];
    record = { ...base, ok: false, recoverySeconds: (context.clock.now() - started) / 1000, problems };
  }
  await recordDrill(context.config.paths.backups, record);
  return record;
}
