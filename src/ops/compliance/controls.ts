import { stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PlatformContext } from "../../platform/context.ts";
import { verifyAudit } from "../../platform/audit/audit.service.ts";
import { createGdprRepository } from "../../services/gdpr/gdpr.repository.ts";
import { buildInventory, loadAnnotations } from "../../services/gdpr/inventory.ts";
import { damagedBackups, listBackups, readDrills } from "../backup/backup-store.ts";
import { auditProductionDependencies } from "../images/audit.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { forEachLogLine, lineTime } from "../incidents/log-window.ts";
import { createComplianceRepository } from "./compliance.repository.ts";
import { securityFindingsControl } from "./security-findings.ts";

export type ControlState = "pass" | "warn" | "fail";

export interface Control {
  id: string;
  title: string;
  state: ControlState;
  detail: string;
}

const DAY = 86_400_000;
// A daily backup plus two hours of slack; a monthly drill plus four days.
const BACKUP_MAX_AGE_DAYS = 26 / 24;
const BACKUP_FAILURES_DAYS = 30;
const DRILL_MAX_AGE_DAYS = 35;
const ROTATION_WARN_DAYS = 90;
const ROTATION_FAIL_DAYS = 365;
const packageRoot = fileURLToPath(new URL("../../../", import.meta.url));

const days = (ms: number) => Math.floor(ms / DAY);
const ageText = (ms: number) => (ms < DAY ? `${Math.max(0, Math.round(ms / 3_600_000))} h` : `${days(ms)} days`);

/** Failed tasks of `azora up`'s backup plan are logged to api.log (live and rotated) as scheduled_backup_failed: their times since `since`, newest first. */
async function scheduledBackupFailures(logDir: string, since: number): Promise<{ at: number; task: string }[]> {
  const failures: { at: number; task: string }[] = [];
  await forEachLogLine(logDir, "api", (line) => {
    if (!line.includes(`"event":"${LogEvent.SCHEDULED_BACKUP_FAILED}"`)) return;
    const at = lineTime(line);
    if (at === undefined || at < since) return;
    let task = "?";
    try {
      task = String((JSON.parse(line) as { task?: unknown }).task ?? "?");
    } catch {
      // A torn line still counts.
    }
    failures.push({ at, task });
  });
  return failures.sort((a, b) => b.at - a.at);
}

async function backupControls(context: PlatformContext, now: number): Promise<Control[]> {
  const root = context.config.paths.backups;
  const backups = (await listBackups(root)).filter((backup) => backup.manifest.kind === "full");
  const damaged = await damagedBackups(root);
  const newest = backups[0]?.manifest;
  const where = context.config.database.url ? " (PostgreSQL: only backups taken to this DATA_DIR are seen; pgBackRest and S3 copies are checked with `azora backup verify`)" : "";
  const backup: Control = !newest
    ? { id: "backups", title: "Database backups", state: "fail", detail: `No full backup in ${root}${where}. Run ./backup/database-backup.sh full (azora backup full) and keep the schedule on.` }
    : now - Date.parse(newest.createdAt) > BACKUP_MAX_AGE_DAYS * DAY
      ? { id: "backups", title: "Database backups", state: "fail", detail: `The newest full backup is ${ageText(now - Date.parse(newest.createdAt))} old (${newest.createdAt}); a daily one is expected.` }
      : { id: "backups", title: "Database backups", state: "pass", detail: `Last success ${newest.createdAt} (${ageText(now - Date.parse(newest.createdAt))} ago); ${backups.length} full backups kept.` };
  // The scheduled tasks that failed in the last 30 days; one since the newest full backup fails the control.
  const failed = await scheduledBackupFailures(context.config.paths.logs, now - BACKUP_FAILURES_DAYS * DAY);
  if (failed.length > 0) {
    const sinceNewest = newest ? failed.filter((failure) => failure.at > Date.parse(newest.createdAt)) : failed;
    if (sinceNewest.length > 0) backup.state = "fail";
    const latest = failed[0]!;
    backup.detail += ` ${failed.length} scheduled backup task${failed.length === 1 ? "" : "s"} failed in the last ${BACKUP_FAILURES_DAYS} days (latest ${new Date(latest.at).toISOString()}, task ${latest.task})${sinceNewest.length > 0 ? `, ${sinceNewest.length} since the newest full backup: grep ${LogEvent.SCHEDULED_BACKUP_FAILED} api.log for the cause` : ", none since the newest full backup"}.`;
  }
  if (damaged.length > 0) {
    backup.state = "fail";
    backup.detail += ` ${damaged.length} damaged: ${damaged.map((entry) => `${entry.dir} (${entry.problem})`).join("; ")}.`;
  }
  const drills = await readDrills(root);
  const lastOk = drills.find((drill) => drill.ok);
  const failures = drills.filter((drill) => !drill.ok && (!lastOk || drill.at > lastOk.at));
  const drill: Control = !lastOk
    ? { id: "restore-drill", title: "Restore drills", state: "fail", detail: drills.length > 0 ? `No drill has passed; the last one (${drills[0]!.at}) failed: ${drills[0]!.problems.join("; ")}.` : "No restore drill on record. Run ./scripts/test-backup-recovery.sh (azora backup drill)." }
    : now - Date.parse(lastOk.at) > DRILL_MAX_AGE_DAYS * DAY || failures.length > 0
      ? { id: "restore-drill", title: "Restore drills", state: "fail", detail: `Last passing drill ${lastOk.at} (${ageText(now - Date.parse(lastOk.at))} ago)${failures.length > 0 ? `; ${failures.length} failed since, latest: ${failures[0]!.problems.join("; ")}` : "; a monthly drill is expected"}.` }
      : { id: "restore-drill", title: "Restore drills", state: "pass", detail: `Last passing drill ${lastOk.at}, recovered in ${lastOk.recoverySeconds} s.` };
  return [backup, drill];
}

/** The age of a secret kept in the secrets directory; undefined when it comes from the environment (its age is the orchestrator's to report). */
async function secretAge(context: PlatformContext, file: string, configured: string | undefined): Promise<number | undefined> {
  if (configured) return undefined;
  const info = await stat(join(context.config.paths.secrets, file)).catch(() => undefined);
  return info ? context.clock.now() - info.mtimeMs : undefined;
}

async function rotationControl(context: PlatformContext): Promise<Control> {
  const ages = {
    "master key": await secretAge(context, "master.key", context.config.masterKey),
    "ops token": await secretAge(context, "ops-token", context.config.ops.token),
  };
  const known = Object.entries(ages).filter((entry): entry is [string, number] => entry[1] !== undefined);
  const oldest = Math.max(0, ...known.map(([, age]) => age));
  const parts = Object.entries(ages).map(([name, age]) => `${name}: ${age === undefined ? "from the environment (rotate it where it is stored)" : `${days(age)} days old`}`);
  const state: ControlState = oldest > ROTATION_FAIL_DAYS * DAY ? "fail" : oldest > ROTATION_WARN_DAYS * DAY ? "warn" : "pass";
  return { id: "secret-rotation", title: "Secret and key rotation", state, detail: `${parts.join("; ")} (warn after ${ROTATION_WARN_DAYS} days, fail after ${ROTATION_FAIL_DAYS}).` };
}

/** Every control of the report, in the guide's order; `dependencies: false` leaves out npm audit (it needs the registry). */
export async function evaluateControls(context: PlatformContext, options: { dependencies: boolean }): Promise<Control[]> {
  const now = context.clock.now();
  const repository = createComplianceRepository(context.db);
  const controls: Control[] = [];

  const audit = await verifyAudit(context);
  controls.push(
    audit.ok
      ? { id: "audit-chain", title: "Audit log integrity", state: "pass", detail: `${audit.rows} rows, hash chain intact${audit.head ? ` (head ${audit.head.seq})` : ""}.` }
      : { id: "audit-chain", title: "Audit log integrity", state: "fail", detail: `${audit.problems.length} problems: ${audit.problems.slice(0, 5).map((problem) => problem.message).join("; ")}. Run azora audit verify.` },
  );

  controls.push(...(await backupControls(context, now)));

  const { keepDaily, keepHourly } = context.config.backup;
  const inventory = buildInventory(await loadAnnotations(), await createGdprRepository(context.db).schemaColumns());
  const gaps = [...inventory.unannotated.map((column) => `${column} not annotated`), ...inventory.incomplete.map((table) => `${table} has no retention or lawful basis`)];
  controls.push({
    id: "retention",
    title: "Retention settings",
    state: gaps.length > 0 ? "fail" : "pass",
    detail: `Backups: newest of each of the last ${keepDaily} days and ${keepHourly} hours. ${gaps.length > 0 ? `Data inventory: ${gaps.join("; ")}.` : `Every table with personal data has a retention and a lawful basis (${inventory.tables.length} tables).`}`,
  });

  const erasures = await repository.erasures(new Date(now - 90 * DAY));
  controls.push({ id: "gdpr-requests", title: "GDPR erasure requests served", state: "pass", detail: `${erasures.inWindow} in the last 90 days, ${erasures.total} in all${erasures.last ? `, the last ${erasures.last}` : ""}.` });

  const access = await repository.access();
  controls.push({
    id: "access-review",
    title: "Admin access",
    state: access.admins === 0 ? "warn" : "pass",
    detail: `${access.admins} admin account${access.admins === 1 ? "" : "s"}; last role change ${access.lastRoleChange ?? "never recorded"}. Review them: azora security access-monitor.`,
  });

  controls.push(await rotationControl(context));

  const policy = await repository.policy();
  controls.push({ id: "security-policy", title: "Security policy in force", state: "pass", detail: policy ? `Updated ${policy.updatedAt} from ${policy.source || "an unnamed file"}.` : "The shipped deployment/security/policy.yaml (never updated)." });

  controls.push(await securityFindingsControl(context));

  const severe = await repository.openSevereIncidents();
  controls.push({ id: "open-incidents", title: "Open SEV-1/SEV-2 incidents", state: severe.length > 0 ? "warn" : "pass", detail: severe.length > 0 ? `Open: ${severe.join(", ")}.` : "None." });

  if (options.dependencies) {
    const summary = await auditProductionDependencies(packageRoot);
    const serious = summary.ok ? (summary.vulnerabilities.critical ?? 0) + (summary.vulnerabilities.high ?? 0) : 0;
    controls.push(
      !summary.ok
        ? { id: "dependencies", title: "Dependency vulnerabilities", state: "warn", detail: `Not checked: ${summary.reason}.` }
        : { id: "dependencies", title: "Dependency vulnerabilities", state: serious > 0 ? "fail" : "pass", detail: `npm audit --omit=dev: ${summary.total} (${Object.entries(summary.vulnerabilities).map(([severity, count]) => `${severity} ${count}`).join(", ")}).` },
    );
  } else controls.push({ id: "dependencies", title: "Dependency vulnerabilities", state: "warn", detail: "Not checked (--no-dependencies)." });
  return controls;
}
