import type { AuditRow } from "../../platform/audit/audit-chain.ts";
import { createAuditRepository } from "../../platform/audit/audit.repository.ts";
import type { Db } from "../../platform/db/db.ts";
import type { TimeWindow } from "./log-window.ts";

/** Deploys and rollbacks as the audit log names them (`deploy.*`, `rollback.*`). */
export const isDeployAction = (action: string) => /^(deploy|rollback)(\.|$)/.test(action);

/** An audit row's time as ISO (the row keeps microseconds). */
export const auditTime = (row: AuditRow) => new Date(Number(BigInt(row.occurredAtMicros) / 1000n)).toISOString();

/** Audit rows of the window, oldest first. */
export function auditRowsIn(db: Db, window: TimeWindow): Promise<AuditRow[]> {
  return createAuditRepository(db).between(window.since, window.until);
}
