import { auditRowCommand, type AuditRowArgs } from "../audit-row-command.ts";

export type DeployAuditArgs = AuditRowArgs<"deploy.succeeded" | "deploy.rolled_back" | "deploy.rollback_failed" | "deploy.rollback">;

/** Records the outcome of a deploy or rollback in the audit log (the engine runs outside the platform). */
export const deployAuditCommand = auditRowCommand("deploy audit", ["deploy.succeeded", "deploy.rolled_back", "deploy.rollback_failed", "deploy.rollback"]);
