import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { PlatformContext } from "../../platform/context.ts";
import type { Queryable } from "../../platform/db/db.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { currentProcessIdentity, isRunning, type ProcessIdentity } from "../../platform/process-identity.ts";
import { createMaintenanceRepository, type MaintenanceSnapshot, type StoredMaintenance } from "../../services/gateway/maintenance.repository.ts";

export const RESTORE_MAINTENANCE_MESSAGE = "Azora OS is restoring a backup; writes are paused. Please try again in a minute.";
const RESTORE_RETRY_AFTER_SECONDS = 60;

/** Maintenance mode held by a restore: on before the copy loads, carried into the copy, given back at the end. */
export interface RestoreMaintenance {
  /** Writes the same flag into the copy, so the swapped-in database keeps answering 503 until the restore ends. */
  carryInto(copy: Queryable): Promise<void>;
  /**
   * Puts back the state the operator had before (on stays on). Without a swap the live row is put back
   * exactly as it was, so a refused restore changes nothing.
   */
  end(swapped: boolean): Promise<void>;
}

/**
 * Switches maintenance mode on for the length of a restore and waits one poll interval, so every gateway
 * process answers writes with 503 before the database is replaced. A database without the flag (restored
 * from before it existed, or dropped) cannot hold it: the restore goes on, and says so in the log.
 */
export async function holdMaintenanceForRestore(context: PlatformContext): Promise<RestoreMaintenance> {
  const live = createMaintenanceRepository(context.db);
  const before: StoredMaintenance | undefined = await live.read().catch(() => undefined);
  const liveRow = before ? await live.snapshot() : undefined;
  const during = { enabled: true, message: before?.enabled ? before.message : RESTORE_MAINTENANCE_MESSAGE, retryAfterSeconds: before?.enabled ? before.retryAfterSeconds : RESTORE_RETRY_AFTER_SECONDS };
  if (before) {
    // Written before the flag: a restore killed halfway leaves this behind, and the next start undoes the flag.
    await writeMarker(context, { ...currentProcessIdentity(), startedAt: new Date(context.clock.now()).toISOString(), maintenanceBefore: before.enabled });
    await live.write(during);
    context.logs.api.info({ event: LogEvent.MAINTENANCE_MODE_CHANGED, enabled: true, wasEnabled: before.enabled, retryAfterSeconds: during.retryAfterSeconds, actor: "restore" }, "maintenance mode on for a restore");
    await oneMaintenancePoll(context);
  } else {
    context.logs.api.warn({ event: "restore_without_maintenance" }, "the live database has no maintenance flag; the restore runs without maintenance mode");
  }
  // The restored database's own row, put back as it was when the backup said "off", so its checksums stay the backup's.
  let fromBackup: MaintenanceSnapshot | undefined;
  return {
    async carryInto(copy) {
      const repository = createMaintenanceRepository(copy);
      fromBackup = await repository.snapshot();
      await repository.write(during);
    },
    async end(swapped) {
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
      await rm(markerPath(context), { force: true });
    },
  };
}

interface RestoreMarker extends ProcessIdentity {
  startedAt: string;
  maintenanceBefore: boolean;
}

const markerPath = (context: Pick<PlatformContext, "config">) => join(context.config.paths.state, "restore-in-progress.json");

async function writeMarker(context: PlatformContext, marker: RestoreMarker): Promise<void> {
  await mkdir(context.config.paths.state, { recursive: true, mode: 0o700 });
  await writeFile(markerPath(context), JSON.stringify(marker), { mode: 0o600 });
}

/**
 * At start: a restore that was killed (its process gone) left maintenance mode on and perhaps a half-loaded
 * copy beside the live database. The live database was never touched before the swap, so it serves as it
 * was: the flag goes back to what the operator had, and the copy is removed. Returns what it did, if anything.
 */
export async function recoverInterruptedRestore(context: PlatformContext): Promise<string | undefined> {
  const text = await readFile(markerPath(context), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  let marker: RestoreMarker | undefined;
  try {
    marker = JSON.parse(text) as RestoreMarker;
  } catch {
    marker = undefined;
  }
  // Still running elsewhere (the same process, not a later one that got its PID after a restart).
  if (marker && marker.pid !== process.pid && isRunning(marker)) return undefined;
  if (!marker?.maintenanceBefore) await createMaintenanceRepository(context.db).write({ enabled: false, message: "", retryAfterSeconds: RESTORE_RETRY_AFTER_SECONDS });
  const parent = dirname(context.config.paths.pg);
  const copies = (await readdir(parent).catch(() => [] as string[])).filter((name) => name.startsWith(`${basename(context.config.paths.pg)}.restore-`));
  for (const copy of copies) await rm(join(parent, copy), { recursive: true, force: true });
  await rm(markerPath(context), { force: true });
  const summary = `a restore started ${marker?.startedAt ?? "earlier"} was interrupted; the previous database serves, maintenance mode is ${marker?.maintenanceBefore ? "still on as before" : "off again"}${copies.length > 0 ? `, ${copies.length} half-loaded copy removed` : ""}`;
  context.logs.api.warn({ event: LogEvent.RESTORE_INTERRUPTED, copiesRemoved: copies.length }, summary);
  return summary;
}

/** Gateways read the flag once per interval: after one interval (and a margin) every one of them follows. */
function oneMaintenancePoll(context: PlatformContext): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, context.config.maintenance.pollMs + 250));
}
