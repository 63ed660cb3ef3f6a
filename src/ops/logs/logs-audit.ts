import { auditRowCommand, type AuditRowArgs } from "../audit-row-command.ts";

export type LogsAuditArgs = AuditRowArgs<"logs.rotate" | "logs.archive">;

/**
 * Records a log rotation or archive in the audit log. Both work on files and must run while the platform
 * writes (and when its database is down), so they do not open the database themselves.
 */
export const logsAuditCommand = auditRowCommand("logs audit", ["logs.rotate", "logs.archive"]);
