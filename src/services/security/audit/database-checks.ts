import type { Queryable } from "../../../platform/db/db.ts";
import { outcome, type AuditFinding, type CheckOutcome } from "./finding.ts";

const DAY_MS = 86_400_000;
/** A signing key in use longer than this should be replaced (NIST SP 800-57's cryptoperiod for signing keys is 1–3 years; tokens live minutes). */
export const SIGNING_KEY_MAX_AGE_DAYS = 180;
/** An admin who has not logged in for this long holds power nobody uses. */
export const ADMIN_IDLE_DAYS = 90;
/** More admins than this is more people who can erase everything than a small team needs. */
export const MAX_ADMINS = 5;

export async function signingKeyAgeCheck(db: Queryable, now: number): Promise<CheckOutcome> {
  const rows = await db.query<{ kid: string; created_at: Date }>("SELECT kid, created_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at");
  const findings: AuditFinding[] = [];
  for (const row of rows) {
    const ageDays = Math.floor((now - row.created_at.getTime()) / DAY_MS);
    if (ageDays > SIGNING_KEY_MAX_AGE_DAYS) {
      findings.push({
        check: "signing_key_age",
        severity: "medium",
        title: `signing key ${row.kid} is ${ageDays} days old`,
        evidence: `signing_keys.kid=${row.kid} created ${row.created_at.toISOString()}, not retired (older than ${SIGNING_KEY_MAX_AGE_DAYS} days)`,
        fix: "Add a new signing key and retire this one once the longest access-token lifetime has passed; there is no rotation command yet, so plan it as a change.",
      });
    }
  }
  return outcome(findings);
}

/**
 * Admin count, and admins without a login in ADMIN_IDLE_DAYS. A login issues a refresh token, so the newest
 * refresh token of an account is its last login (rows are purged after expiry: none at all means none for 30 days).
 */
export async function adminChecks(db: Queryable, now: number): Promise<CheckOutcome> {
  const admins = await db.query<{ id: string; created_at: Date; last_login: Date | null }>(
    `SELECT u.id, u.created_at, (SELECT max(t.created_at) FROM refresh_tokens t WHERE t.user_id = u.id) AS last_login
       FROM users u WHERE u.role = 'admin' AND u.disabled_at IS NULL ORDER BY u.created_at`,
  );
  const findings: AuditFinding[] = [];
  if (admins.length === 0) {
    findings.push({
      check: "admin_count",
      severity: "low",
      title: "no active admin",
      evidence: "users with role admin and not disabled: 0",
      fix: "Promote one named person (azora user promote EMAIL) so that account recovery and moderation have an owner.",
    });
  } else if (admins.length > MAX_ADMINS) {
    findings.push({
      check: "admin_count",
      severity: "medium",
      title: `${admins.length} admins`,
      evidence: `users with role admin and not disabled: ${admins.length} (more than ${MAX_ADMINS})`,
      fix: "Demote the admins who do not need the role (azora user demote EMAIL).",
    });
  }
  const cutoff = now - ADMIN_IDLE_DAYS * DAY_MS;
  for (const admin of admins) {
    const last = admin.last_login ? new Date(admin.last_login) : null;
    if ((last ?? admin.created_at).getTime() >= cutoff) continue;
    findings.push({
      check: "idle_admin",
      severity: "medium",
      title: `admin ${admin.id} has not logged in for ${ADMIN_IDLE_DAYS} days`,
      evidence: `user ${admin.id}: last login ${last ? last.toISOString() : "none on record"}, admin since at least ${admin.created_at.toISOString()}`,
      fix: "Demote the account (azora user demote EMAIL) or disable it (./scripts/disable-account.sh EMAIL) if nobody uses it.",
    });
  }
  return outcome(findings);
}
