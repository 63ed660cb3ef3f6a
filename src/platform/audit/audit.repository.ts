import type { Db } from "../db/db.ts";
import { GENESIS_HASH, hashOf, type AuditRow } from "./audit-chain.ts";

/** Any fixed number: every writer of the chain, on any machine, waits on this transaction-level lock. */
const AUDIT_CHAIN_LOCK = 727_201;

export interface NewAuditEntry {
  occurredAt: Date;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

interface Row {
  seq: string;
  occurred_us: string;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

// Ordered by audit_log.seq, never by the text alias (which would sort "10" before "9").
const columns = "seq::text AS seq, (extract(epoch FROM occurred_at) * 1000000)::bigint::text AS occurred_us, actor, action, target, details, prev_hash, hash";

const toRow = (row: Row): AuditRow => ({
  seq: Number(row.seq),
  occurredAtMicros: row.occurred_us,
  actor: row.actor,
  action: row.action,
  target: row.target,
  details: row.details,
  prevHash: row.prev_hash,
  hash: row.hash,
});

/** The only SQL on audit_log: appends under a lock, and reads. Nothing here updates or deletes. */
export function createAuditRepository(db: Db) {
  return {
    /**
     * Appends one row after the current head. The advisory lock serialises appends across connections and
     * machines (two writers reading the same head would fork the chain); it is released at commit.
     */
    async append(entry: NewAuditEntry): Promise<AuditRow> {
      return db.transaction(async (tx) => {
        await tx.query("SELECT pg_advisory_xact_lock($1)", [AUDIT_CHAIN_LOCK]);
        const [head] = await tx.query<{ seq: string; hash: string }>("SELECT seq::text AS seq, hash FROM audit_log ORDER BY audit_log.seq DESC LIMIT 1");
        const seq = head ? Number(head.seq) + 1 : 1;
        // Microseconds as the database stores them, so the hash covers exactly what is kept.
        const occurredAtMicros = (BigInt(entry.occurredAt.getTime()) * 1000n).toString();
        const content = { seq, occurredAtMicros, actor: entry.actor, action: entry.action, target: entry.target, details: entry.details, prevHash: head?.hash ?? GENESIS_HASH };
        const hash = hashOf(content);
        await tx.query(
          "INSERT INTO audit_log (seq, occurred_at, actor, action, target, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)",
          [seq, entry.occurredAt.toISOString(), entry.actor, entry.action, entry.target, JSON.stringify(entry.details), content.prevHash, hash],
        );
        return { ...content, hash };
      });
    },
    /** Every row in chain order, in one statement (verify must not see a half-appended chain). */
    async all(): Promise<AuditRow[]> {
      return (await db.query<Row>(`SELECT ${columns} FROM audit_log ORDER BY audit_log.seq, audit_log.hash`)).map(toRow);
    },
    /** The newest rows, oldest first. */
    async latest(limit: number): Promise<AuditRow[]> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM audit_log ORDER BY audit_log.seq DESC LIMIT $1`, [limit]);
      return rows.map(toRow).reverse();
    },
    /** Rows that occurred in [from, to], oldest first (an incident's window). */
    async between(from: Date, to: Date, limit = 10_000): Promise<AuditRow[]> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM audit_log WHERE occurred_at BETWEEN $1 AND $2 ORDER BY audit_log.seq LIMIT $3`, [from.toISOString(), to.toISOString(), limit]);
      return rows.map(toRow);
    },
    /** Rows after seq, oldest first (tail --follow). */
    async after(seq: number, limit = 500): Promise<AuditRow[]> {
      return (await db.query<Row>(`SELECT ${columns} FROM audit_log WHERE audit_log.seq > $1 ORDER BY audit_log.seq LIMIT $2`, [seq, limit])).map(toRow);
    },
  };
}

export type AuditRepository = ReturnType<typeof createAuditRepository>;
