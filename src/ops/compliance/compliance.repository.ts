import type { Queryable } from "../../platform/db/db.ts";

/** The figures the compliance report reads from the database: counts and times only, never who. */
export function createComplianceRepository(db: Queryable) {
  return {
    /** Erasures served (the ledger keeps one row per erased person for good). */
    async erasures(since: Date): Promise<{ total: number; inWindow: number; last: string | null }> {
      const [row] = await db.query<{ total: string; in_window: string; last: Date | null }>(
        "SELECT count(*)::text AS total, count(*) FILTER (WHERE erased_at >= $1)::text AS in_window, max(erased_at) AS last FROM gdpr_deletion_ledger",
        [since.toISOString()],
      );
      return { total: Number(row?.total ?? 0), inWindow: Number(row?.in_window ?? 0), last: row?.last ? row.last.toISOString() : null };
    },
    /** Admin accounts, and when a role last changed (the audit log records every promote and demote). */
    async access(): Promise<{ admins: number; lastRoleChange: string | null }> {
      const [admins] = await db.query<{ count: string }>("SELECT count(*)::text AS count FROM users WHERE role = 'admin'");
      const [change] = await db.query<{ at: Date | null }>("SELECT max(occurred_at) AS at FROM audit_log WHERE action IN ('user.promote', 'user.demote')");
      return { admins: Number(admins?.count ?? 0), lastRoleChange: change?.at ? change.at.toISOString() : null };
    },
    /** The security policy in force: a stored update, or the shipped file when none was ever applied. */
    async policy(): Promise<{ source: string; updatedAt: string } | undefined> {
      const [row] = await db.query<{ source: string; updated_at: Date }>("SELECT source, updated_at FROM security_policy WHERE id = 1");
      return row ? { source: row.source, updatedAt: row.updated_at.toISOString() } : undefined;
    },
    /** Incidents still open at SEV-1 or SEV-2. */
    async openSevereIncidents(): Promise<string[]> {
      const rows = await db.query<{ reference: string }>("SELECT reference FROM incidents WHERE resolved_at IS NULL AND severity <= 2 AND reference IS NOT NULL ORDER BY started_at");
      return rows.map((row) => row.reference);
    },
  };
}
