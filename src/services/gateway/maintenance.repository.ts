import type { Queryable } from "../../platform/db/db.ts";

/** The maintenance flag as stored: one row shared by every gateway process. */
export interface StoredMaintenance {
  enabled: boolean;
  message: string;
  retryAfterSeconds: number;
  changedAt: string;
}

interface Row {
  enabled: boolean;
  message: string;
  retry_after_seconds: number;
  changed_at: Date;
}

export interface MaintenanceSnapshot {
  enabled: boolean;
  message: string;
  retry_after_seconds: number;
  changed_at: string;
}

const toStored = (row: Row): StoredMaintenance => ({
  enabled: row.enabled,
  message: row.message,
  retryAfterSeconds: row.retry_after_seconds,
  changedAt: row.changed_at.toISOString(),
});

export function createMaintenanceRepository(db: Queryable) {
  return {
    async read(): Promise<StoredMaintenance> {
      const [row] = await db.query<Row>("SELECT enabled, message, retry_after_seconds, changed_at FROM maintenance_mode WHERE id = 1");
      if (!row) throw new Error("maintenance_mode has no row: run azora migrate");
      return toStored(row);
    },
    async write(state: { enabled: boolean; message: string; retryAfterSeconds: number }): Promise<StoredMaintenance> {
      const [row] = await db.query<Row>(
        `UPDATE maintenance_mode SET enabled = $1, message = $2, retry_after_seconds = $3, changed_at = now() WHERE id = 1
         RETURNING enabled, message, retry_after_seconds, changed_at`,
        [state.enabled, state.message, state.retryAfterSeconds],
      );
      if (!row) throw new Error("maintenance_mode has no row: run azora migrate");
      return toStored(row);
    },
    /** The row exactly, its time to the microsecond (a restore puts the backup's row back as it was). */
    async snapshot(): Promise<MaintenanceSnapshot> {
      const [row] = await db.query<MaintenanceSnapshot>("SELECT enabled, message, retry_after_seconds, changed_at::text AS changed_at FROM maintenance_mode WHERE id = 1");
      if (!row) throw new Error("maintenance_mode has no row: run azora migrate");
      return row;
    },
    async restore(row: MaintenanceSnapshot): Promise<void> {
      await db.query("UPDATE maintenance_mode SET enabled = $1, message = $2, retry_after_seconds = $3, changed_at = $4::timestamptz WHERE id = 1", [
        row.enabled,
        row.message,
        row.retry_after_seconds,
        row.changed_at,
      ]);
    },
  };
}

export type MaintenanceRepository = ReturnType<typeof createMaintenanceRepository>;
