import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { outcome, type AuditFinding, type CheckOutcome } from "./finding.ts";
import { weakSecretReason } from "./config-checks.ts";

const DAY_MS = 86_400_000;
/** A generated secret older than this is due for rotation (the operations guide's yearly review). */
export const SECRET_MAX_AGE_DAYS = 365;

/**
 * DATA_DIR/secrets holds the master key and the ops token: the directory must be 0700 and every file 0600 (no
 * group or other bits), each value strong, and none older than a year. Values are never printed.
 */
export async function secretsDirChecks(dir: string, now: number): Promise<CheckOutcome> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) return outcome([], [{ check: "secrets_file_modes", reason: `${dir} does not exist (every secret is given in the environment)` }]);
  const findings: AuditFinding[] = [];
  const mode = (value: number) => (value & 0o777).toString(8).padStart(4, "0");
  if ((info.mode & 0o077) !== 0) {
    findings.push({
      check: "secrets_file_modes",
      severity: "high",
      title: "the secrets directory is open to other users",
      evidence: `${dir} has mode ${mode(info.mode)}`,
      fix: `chmod 700 ${dir}`,
    });
  }
  for (const name of await readdir(dir)) {
    const file = join(dir, name);
    const fileInfo = await stat(file);
    if (!fileInfo.isFile()) continue;
    if ((fileInfo.mode & 0o077) !== 0) {
      findings.push({ check: "secrets_file_modes", severity: "high", title: `${name} is readable by other users`, evidence: `${file} has mode ${mode(fileInfo.mode)}`, fix: `chmod 600 ${file}` });
    }
    const reason = weakSecretReason((await readFile(file, "utf8")).trim());
    if (reason) {
      findings.push({ check: "weak_secret", severity: "high", title: `${name} is weak`, evidence: `${file}: ${reason}`, fix: `Replace it with a generated value (delete the file while stopped: it is generated again) and rotate what it protects.` });
    }
    const ageDays = Math.floor((now - fileInfo.mtimeMs) / DAY_MS);
    if (ageDays > SECRET_MAX_AGE_DAYS) {
      findings.push({
        check: "secret_age",
        severity: "low",
        title: `${name} has not been rotated for ${ageDays} days`,
        evidence: `${file} last changed ${new Date(fileInfo.mtimeMs).toISOString()} (older than ${SECRET_MAX_AGE_DAYS} days)`,
        fix: "Rotate it (docs/auth-operations.md, secret rotation).",
      });
    }
  }
  return outcome(findings);
}
