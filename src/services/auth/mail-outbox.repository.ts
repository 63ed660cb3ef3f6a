import type { Queryable } from "../../platform/db/db.ts";

/** What a row of the outbox owes its user: a reset link, or the notice that the password was reset or changed. */
export const OUTBOX_KINDS = ["reset_link", "reset_notice", "change_notice"] as const;
export type OutboxKind = (typeof OUTBOX_KINDS)[number];

/** The mails of one kind still waiting (not sent, not given up), and how long the oldest of them has waited. */
export interface PendingMails {
  kind: OutboxKind;
  pending: number;
  /** Seconds since the oldest waiting mail was added; undefined when none waits. */
  oldestAgeSeconds: number | undefined;
}

/** One mail due for an attempt, claimed by this process. */
export interface ClaimedMail {
  id: string;
  userId: string;
  kind: OutboxKind;
  createdAt: Date;
  /** Attempts so far, this one included. */
  attempts: number;
}

/** The mail outbox: mails owed to users until they are sent or given up; the SQL of their life cycle. */
export function createMailOutboxRepository(db: Queryable) {
  return {
    /** Records a mail owed to the user, due at once. */
    async add(userId: string, kind: OutboxKind, at: Date): Promise<void> {
      await db.query("INSERT INTO mail_outbox (user_id, kind, created_at, next_attempt_at) VALUES ($1, $2, $3, $3)", [userId, kind, at]);
    },
    /** True when a mail of this kind to the user is still waiting to be sent (a second request adds nothing). */
    async hasPending(userId: string, kind: OutboxKind): Promise<boolean> {
      const rows = await db.query("SELECT 1 FROM mail_outbox WHERE user_id = $1 AND kind = $2 AND sent_at IS NULL AND failed_at IS NULL LIMIT 1", [userId, kind]);
      return rows.length > 0;
    },
    /** Waiting mails by kind at `at`, every kind listed (0 when none waits): the outbox's metrics read this. */
    async pendingByKind(at: Date): Promise<PendingMails[]> {
      const rows = await db.query<{ kind: OutboxKind; pending: string; oldest: Date | string }>(
        "SELECT kind, count(*)::text AS pending, min(created_at) AS oldest FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL GROUP BY kind",
      );
      return OUTBOX_KINDS.map((kind) => {
        const row = rows.find((candidate) => candidate.kind === kind);
        if (!row) return { kind, pending: 0, oldestAgeSeconds: undefined };
        return { kind, pending: Number(row.pending), oldestAgeSeconds: Math.max(0, (at.getTime() - new Date(row.oldest).getTime()) / 1000) };
      });
    },
    /**
     * How many mails of this kind were added for the user since `since`: one per request that owed a mail, however
     * many attempts its delivery took (the forgot route's per-account cap counts requests, not retries).
     */
    async countAddedSince(userId: string, kind: OutboxKind, since: Date): Promise<number> {
      const rows = await db.query<{ count: string }>("SELECT count(*)::text AS count FROM mail_outbox WHERE user_id = $1 AND kind = $2 AND created_at > $3", [userId, kind, since]);
      return Number(rows[0]?.count ?? 0);
    },
    /**
     * Claims up to `limit` mails due at `at`: each one's attempt is counted and its next attempt moved to `leaseUntil`
     * in the same statement, so another process (or a crash mid-send) cannot send it twice before then.
     */
    async claimDue(at: Date, leaseUntil: Date, limit: number): Promise<ClaimedMail[]> {
      const rows = await db.query<{ id: string; user_id: string; kind: OutboxKind; created_at: Date | string; attempts: number }>(
        `UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $2
         WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
                      ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING id, user_id, kind, created_at, attempts`,
        [at, leaseUntil, limit],
      );
      return rows.map((row) => ({ id: row.id, userId: row.user_id, kind: row.kind, createdAt: new Date(row.created_at), attempts: row.attempts }));
    },
    async markSent(id: string, at: Date): Promise<void> {
      await db.query("UPDATE mail_outbox SET sent_at = $2, last_error = NULL WHERE id = $1", [id, at]);
    },
    /** A failed attempt: tried again at `retryAt`, or given up (`retryAt` undefined). */
    async markFailed(id: string, error: string, at: Date, retryAt: Date | undefined): Promise<void> {
      if (retryAt) await db.query("UPDATE mail_outbox SET last_error = $2, next_attempt_at = $3 WHERE id = $1", [id, error.slice(0, 64), retryAt]);
      else await db.query("UPDATE mail_outbox SET last_error = $2, failed_at = $3 WHERE id = $1", [id, error.slice(0, 64), at]);
    },
    /** Deletes up to `limit` rows sent or given up before `before`; returns how many. */
    async purge(before: Date, limit: number): Promise<number> {
      const rows = await db.query(
        "DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at < $1 OR failed_at < $1 LIMIT $2) RETURNING id",
        [before, limit],
      );
      return rows.length;
    },
  };
}

export type MailOutboxRepository = ReturnType<typeof createMailOutboxRepository>;
