import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { PlatformContext } from "../../platform/context.ts";
import type { Queryable } from "../../platform/db/db.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { currentProcessIdentity, isRunning, type ProcessIdentity } from "../../platform/process-identity.ts";
import { dropAbandonedScratchDatabases } from "./scratch-databases.ts";
import { createMaintenanceRepository, type MaintenanceSnapshot, type StoredMaintenance } from "../../services/gateway/maintenance.repository.ts";

export const RESTORE_MAINTENANCE_MESSAGE = "Azora OS is restoring a backup; writes are paused. Please try again in a minute.";
const RESTORE_RETRY_AFTER_SECONDS = 60;

/** Maintenance mode held by a restore: on before the copy loads, carried into the copy, given back at the end. */
export interface RestoreMaintenance {
  /**
   * Settles once every gateway process answers writes with 503 (one poll interval after the flag was
   * written). The restore loads its copy meanwhile, and waits for this before it reads the live deletion
   * ledger and swaps (ADR 0520).
   */
  inForce: Promise<void>;
  /** Writes the same flag into the copy, so the swapped-in database keeps answering 503 until the restore ends. */
  carryInto(copy: Queryable): Promise<void>;
  /**
   * Puts back the state the operator had before (on stays on). Without a swap the live row is put back
   * exactly as it was, so a refused restore changes nothing.
   */
  end(swapped: boolean): Promise<void>;
}

/**
 * Switches maintenance mode on for the length of a restore; `inForce` settles one poll interval later, when
 * every gateway process answers writes with 503. A database without the flag (restored from before it
 * existed, or dropped) cannot hold it: the restore goes on, and says so in the log.
 */
export async function holdMaintenanceForRestore(context: PlatformContext): Promise<RestoreMaintenance> {
  const live = createMaintenanceRepository(context.db);
  const before: StoredMaintenance | undefined = await live.read().catch(() => undefined);
  const liveRow = before ? await live.snapshot() : undefined;
  const during = { enabled: true, message: before?.enabled ? before.message : RESTORE_MAINTENANCE_MESSAGE, retryAfterSeconds: before?.enabled ? before.retryAfterSeconds : RESTORE_RETRY_AFTER_SECONDS };
  if (before) {
    // Written before the flag: a restore killed halfway leaves this behind, and the next start undoes the flag.
    await writeMarker(context, { ...currentProcessIdentity(), startedAt: new Date(context.clock.now()).toISOString(), maintenanceBefore: before.enabled });
    await live.write(during).catch(async (error: unknown) => {
      await rm(markerPath(context), { force: true });
      throw error;
    });
    context.logs.api.info({ event: LogEvent.MAINTENANCE_MODE_CHANGED, enabled: true, wasEnabled: before.enabled, retryAfterSeconds: during.retryAfterSeconds, actor: "restore" }, "maintenance mode on for a restore");
  } else {
    context.logs.api.warn({ event: "restore_without_maintenance" }, "the live database has no maintenance flag; the restore runs without maintenance mode");
  }
  // The restored database's own row, put back as it was when the backup said "off", so its checksums stay the backup's.
  let fromBackup: MaintenanceSnapshot | undefined;
  // Without a flag there is nothing for the gateways to follow.
  const inForce = before ? oneMaintenancePoll(context) : Promise.resolve();
  return {
    inForce,
    async carryInto(copy) {
      const repository = createMaintenanceRepository(copy);
      fromBackup = await repository.snapshot();
      await repository.write(during);
    },
    async end(swapped) {
      // The marker goes whatever happens here: left behind by a live process, it would refuse every later restore.
      try {
        const live = createMaintenanceRepository(context.db);
        if (!swapped) {
          if (liveRow) await live.restore(liveRow);
        } else if (before?.enabled) await live.write(during);
        else if (fromBackup && !fromBackup.enabled) await live.restore(fromBackup);
        else await live.write({ enabled: false, message: "", retryAfterSeconds: before?.retryAfterSeconds ?? RESTORE_RETRY_AFTER_SECONDS });
        if (!before?.enabled) {
          context.logs.api.info({ event: LogEvent.MAINTENANCE_MODE_CHANGED, enabled: false, wasEnabled: true, actor: "restore" }, "maintenance mode off after the restore");
          // The restore is over for its caller only once the gateways serve again.
          await oneMaintenancePoll(context);
        }
      } finally {
        await rm(markerPath(context), { force: true });
      }
    },
  };
}

export interface RestoreMarker extends ProcessIdentity {
  startedAt: string;
  maintenanceBefore: boolean;
}

const markerPath = (context: Pick<PlatformContext, "config">) => join(context.config.paths.state, "restore-in-progress.json");

async function writeMarker(context: PlatformContext, marker: RestoreMarker): Promise<void> {
  await mkdir(context.config.paths.state, { recursive: true, mode: 0o700 });
  await writeFile(markerPath(context), JSON.stringify(marker), { mode: 0o600 });
}

/**
 * At start (and before a restore): a restore that was killed (its process gone) left maintenance mode on and
 * perhaps a half-loaded copy beside the live database. The live database was never touched before the swap,
 * so it serves as it was: the flag goes back to what the operator had, and the copy is removed. Scratch
 * databases on PostgreSQL are leased, so only those no running restore or drill holds are dropped.
 * Returns what it did, if anything.
 */
export async function recoverInterruptedRestore(context: PlatformContext, options: { atStart: boolean } = { atStart: true }): Promise<string | undefined> {
  const marker = await readMarker(context);
  // Still running elsewhere (the same process, not a later one that got its PID after a restart).
  const stillRunning = marker !== undefined && marker !== "unreadable" && marker.pid !== process.pid && isRunning(marker);
  const leftovers = await removeLeftoverCopies(context, options.atStart);
  const unfinished = options.atStart && !context.config.database.url ? await removeUnfinishedBackupDirs(context.config.paths.backups) : [];
  if (unfinished.length > 0) {
    context.logs.api.warn({ event: LogEvent.RESTORE_INTERRUPTED, unfinishedRemoved: unfinished.length }, `${unfinished.length} working directory(ies) left by an interrupted backup, restore or drill removed: ${unfinished.join(", ")}`);
  }
  if (marker === undefined || stillRunning) {
    if (leftovers.length === 0) return undefined;
    const summary = `${leftovers.length} scratch copy(ies) left by an interrupted restore or drill removed: ${leftovers.join(", ")}`;
    context.logs.api.warn({ event: LogEvent.RESTORE_INTERRUPTED, copiesRemoved: leftovers.length }, summary);
    return summary;
  }
  const before = marker === "unreadable" ? undefined : marker;
  if (!before?.maintenanceBefore) await createMaintenanceRepository(context.db).write({ enabled: false, message: "", retryAfterSeconds: RESTORE_RETRY_AFTER_SECONDS });
  await rm(markerPath(context), { force: true });
  const summary = `a restore started ${before?.startedAt ?? "earlier"} was interrupted; the previous database serves, maintenance mode is ${before?.maintenanceBefore ? "still on as before" : "off again"}${leftovers.length > 0 ? `, ${leftovers.length} half-loaded copy removed` : ""}`;
  context.logs.api.warn({ event: LogEvent.RESTORE_INTERRUPTED, copiesRemoved: leftovers.length }, summary);
  return summary;
}

/**
 * Scratch copies nothing uses any more. PostgreSQL: the abandoned (unleased) scratch databases; a database
 * user that may not reach the maintenance database only misses the cleanup, and the next restore retries it.
 * Embedded: only this process may open DATA_DIR, so at its start no copy beside it is in use; later a drill
 * may be loading one, so only restore copies go (the caller made sure no other restore runs).
 */
async function removeLeftoverCopies(context: PlatformContext, atStart: boolean): Promise<string[]> {
  const url = context.config.database.url;
  if (url) {
    return dropAbandonedScratchDatabases(url).catch((error: unknown) => {
      context.logs.api.warn({ event: LogEvent.RESTORE_INTERRUPTED, err: error }, "could not look for scratch databases left by an interrupted restore");
      return [] as string[];
    });
  }
  const parent = dirname(context.config.paths.pg);
  const live = basename(context.config.paths.pg);
  const stale = atStart ? /^\.(restore|drill)-/ : /^\.restore-/;
  const copies = (await readdir(parent).catch(() => [] as string[])).filter((name) => name.startsWith(live) && stale.test(name.slice(live.length)));
  for (const copy of copies) await rm(join(parent, copy), { recursive: true, force: true });
  return copies;
}

/**
 * The working directories a killed backup, restore or drill leaves in DATA_DIR/backups: `.partial-ID` (a
 * dump being written), `.fetch-ID` (a download from the bucket) and `.work-…` (the decrypted dump a restore
 * loads: personal data in clear, out of reach of the encryption and of a later erasure). None is listed as
 * a backup, so nothing else ever removes them. Called at the start of the embedded default only: the data
 * lock it holds then means no command of this DATA_DIR is running.
 */
async function removeUnfinishedBackupDirs(backups: string): Promise<string[]> {
  const entries = await readdir(backups, { withFileTypes: true }).catch(() => []);
  const unfinished = entries.filter((entry) => entry.isDirectory() && /^\.(partial|fetch|work)-/.test(entry.name)).map((entry) => join(backups, entry.name));
  for (const dir of unfinished) await rm(dir, { recursive: true, force: true });
  return unfinished;
}

async function readMarker(context: PlatformContext): Promise<RestoreMarker | "unreadable" | undefined> {
  const text = await readFile(markerPath(context), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as RestoreMarker;
  } catch {
    return "unreadable";
  }
}

/** The restore that is running now (in this process or another), if any: a second one must not start beside it. */
export async function runningRestore(context: PlatformContext): Promise<RestoreMarker | undefined> {
  const marker = await readMarker(context);
  return marker && marker !== "unreadable" && isRunning(marker) ? marker : undefined;
}

/** Gateways read the flag once per interval: after one interval (and a margin) every one of them follows. */
function oneMaintenancePoll(context: PlatformContext): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, context.config.maintenance.pollMs + 250));
}
