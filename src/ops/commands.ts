import type { PlatformCommand } from "../platform/command.ts";
import { accountCommand } from "./account.ts";
import { secretsRotateCommand } from "./secrets-rotate.ts";
import { passwordResetCommand } from "./password-reset/password-reset.ts";
import { auditTailCommand, auditVerifyCommand } from "./audit.ts";
import { backupDrillCommand, backupFullCommand } from "./backup.ts";
import { capacityReviewCommand } from "./capacity/review.ts";
import { complianceReportCommand } from "./compliance/report.ts";
import { integrityCheckCommand } from "./db-integrity.ts";
import { analyzeQueriesCommand } from "./db-review/analyze-queries.ts";
import { optimizeCommand } from "./db-review/optimize.ts";
import { gdprAuditCommand, gdprDeleteCommand, gdprExportCommand, gdprReplayLedgerCommand } from "./gdpr.ts";
import { backupContentCommand, pruneContentCommand, restoreContentCommand } from "./config-content-backup.ts";
import { incidentCollectLogsCommand } from "./incidents/collect-logs.ts";
import { incidentDeclareCommand, incidentListCommand, incidentResolveCommand, incidentShowCommand, incidentUpdateCommand } from "./incidents/incident-commands.ts";
import { incidentPostmortemCommand } from "./incidents/postmortem.ts";
import { maintenanceCommand } from "./maintenance.ts";
import { migrateCommand } from "./migrate.ts";
import { backupSetupCommand } from "./pitr.ts";
import { restoreCommand } from "./restore.ts";
import { securityPoliciesCommand } from "./security-policies.ts";
import { securityAuditCommand } from "./security-audit.ts";
import { securityForensicsCommand } from "./security-forensics.ts";
import { setRoleCommand } from "./user.ts";
import { trafficCommand } from "./traffic.ts";
import { deployAuditCommand } from "./deploy/deploy-audit.ts";
import { logsAuditCommand } from "./logs/logs-audit.ts";
import { securityAdminsCommand } from "./security-admins.ts";

/** Commands a running `azora up` may execute for a CLI in another process. */
export const platformCommands = [
  migrateCommand,
  setRoleCommand,
  backupFullCommand,
  backupDrillCommand,
  restoreCommand,
  integrityCheckCommand,
  analyzeQueriesCommand,
  optimizeCommand,
  capacityReviewCommand,
  backupSetupCommand,
  gdprExportCommand,
  gdprDeleteCommand,
  gdprAuditCommand,
  gdprReplayLedgerCommand,
  maintenanceCommand,
  trafficCommand,
  deployAuditCommand,
  logsAuditCommand,
  auditVerifyCommand,
  auditTailCommand,
  accountCommand,
  passwordResetCommand,
  secretsRotateCommand,
  backupContentCommand,
  restoreContentCommand,
  pruneContentCommand,
  securityPoliciesCommand,
  securityAdminsCommand,
  securityAuditCommand,
  securityForensicsCommand,
  incidentDeclareCommand,
  incidentUpdateCommand,
  incidentResolveCommand,
  incidentListCommand,
  incidentShowCommand,
  incidentCollectLogsCommand,
  incidentPostmortemCommand,
  complianceReportCommand,
] as PlatformCommand[];
