import type { Queryable } from "../../platform/db/db.ts";

/** One erasure, as kept for good: no email, no id, only the hash of the id. */
export interface LedgerEntry {
  id: string;
  subjectHash: string;
  pseudonym: string;
  erasedAt: string;
  requestedBy: "operator" | "self-service";
  summary: Record<string, number>;
}

interface Row {
  id: string;
  subject_hash: string;
  pseudonym: string;
  erased_at: Date;
  requested_by: LedgerEntry["requestedBy"];
  summary: Record<string, number>;
}

/** The gdpr_deletion_ledger table. */
export function createDeletionLedgerRepository(db: Queryable) {
  return {
    /** Records an erasure; an entry for the same person already there is kept as it is. */
    async insert(entry: LedgerEntry): Promise<boolean> {
      const rows = await db.query(
        `INSERT INTO gdpr_deletion_ledger (id, subject_hash, pseudonym, erased_at, requested_by, summary)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject_hash) DO NOTHING RETURNING id`,
        [entry.id, entry.subjectHash, entry.pseudonym, entry.erasedAt, entry.requestedBy, JSON.stringify(entry.summary)],
      );
      return rows.length === 1;
    },
    async list(): Promise<LedgerEntry[]> {
      const rows = await db.query<Row>("SELECT id, subject_hash, pseudonym, erased_at, requested_by, summary FROM gdpr_deletion_ledger ORDER BY erased_at, id");
      return rows.map((row) => ({
        id: row.id,
        subjectHash: row.subject_hash,
        pseudonym: row.pseudonym,
        erasedAt: row.erased_at.toISOString(),
        requestedBy: row.requested_by,
        summary: row.summary,
      }));
    },
    /** False on a database restored from before the ledger existed (its migration not yet applied). */
    async exists(): Promise<boolean> {
      const rows = await db.query<{ present: boolean }>("SELECT to_regclass('gdpr_deletion_ledger') IS NOT NULL AS present");
      return rows[0]?.present === true;
    },
  };
}

export type DeletionLedgerRepository = ReturnType<typeof createDeletionLedgerRepository>;
