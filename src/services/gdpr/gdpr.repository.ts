import type { Queryable } from "../../platform/db/db.ts";

export interface Subject {
  id: string;
  email: string;
  name: string | null;
  role: string;
  passwordHash: string;
  disabledAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface SessionRecord {
  id: string;
  familyId: string;
  createdAt: string;
  expiresAt: string;
  rotatedAt: string | null;
  revokedAt: string | null;
}

export interface ErasedRows {
  users: number;
  content: number;
  attachments: number;
  sessions: number;
}

const iso = (value: Date | null) => (value ? value.toISOString() : null);

/** Everything GDPR export and erasure read and delete about one person, across the services' tables. */
export function createGdprRepository(db: Queryable) {
  async function findSubject(by: "email" | "id", value: string): Promise<Subject | undefined> {
    const rows = await db.query<{ id: string; email: string; name: string | null; role: string; password_hash: string; disabled_at: Date | null; created_at: Date; updated_at: Date }>(
      `SELECT id, email, name, role, password_hash, disabled_at, created_at, updated_at FROM users WHERE ${by === "email" ? "email" : "id"} = $1`,
      [value],
    );
    const row = rows[0];
    return (
      row && {
        id: row.id,
        email: row.email,
        name: row.name,
        role: row.role,
        passwordHash: row.password_hash,
        disabledAt: iso(row.disabled_at),
        createdAt: iso(row.created_at) as string,
        updatedAt: iso(row.updated_at) as string,
      }
    );
  }

  return {
    findSubjectByEmail: (email: string) => findSubject("email", email),
    findSubjectById: (id: string) => findSubject("id", id),
    /** Session metadata only: the token hashes are of no use to the person and stay out of exports. */
    async sessionsOf(userId: string): Promise<SessionRecord[]> {
      const rows = await db.query<{ id: string; family_id: string; created_at: Date; expires_at: Date; rotated_at: Date | null; revoked_at: Date | null }>(
        "SELECT id, family_id, created_at, expires_at, rotated_at, revoked_at FROM refresh_tokens WHERE user_id = $1 ORDER BY created_at, id",
        [userId],
      );
      return rows.map((row) => ({
        id: row.id,
        familyId: row.family_id,
        createdAt: iso(row.created_at) as string,
        expiresAt: iso(row.expires_at) as string,
        rotatedAt: iso(row.rotated_at),
        revokedAt: iso(row.revoked_at),
      }));
    },
    async contentOf(userId: string): Promise<{ id: string; title: string; body: string; createdAt: string; updatedAt: string }[]> {
      const rows = await db.query<{ id: string; title: string; body: string; created_at: Date; updated_at: Date }>(
        "SELECT id, title, body, created_at, updated_at FROM content WHERE owner_id = $1 ORDER BY created_at, id",
        [userId],
      );
      return rows.map((row) => ({ id: row.id, title: row.title, body: row.body, createdAt: iso(row.created_at) as string, updatedAt: iso(row.updated_at) as string }));
    },
    async countsOf(userId: string): Promise<ErasedRows> {
      const [row] = await db.query<{ content: string; attachments: string; sessions: string }>(
        `SELECT (SELECT count(*) FROM content WHERE owner_id = $1) AS content,
                (SELECT count(*) FROM attachments WHERE owner_id = $1 OR content_id IN (SELECT id FROM content WHERE owner_id = $1)) AS attachments,
                (SELECT count(*) FROM refresh_tokens WHERE user_id = $1) AS sessions`,
        [userId],
      );
      return { users: 1, content: Number(row?.content ?? 0), attachments: Number(row?.attachments ?? 0), sessions: Number(row?.sessions ?? 0) };
    },
    /** Deletes the person's rows, children first; returns what went. Run inside a transaction. */
    async eraseRows(userId: string): Promise<ErasedRows> {
      const attachments = await db.query("DELETE FROM attachments WHERE owner_id = $1 OR content_id IN (SELECT id FROM content WHERE owner_id = $1) RETURNING id", [userId]);
      const content = await db.query("DELETE FROM content WHERE owner_id = $1 RETURNING id", [userId]);
      const sessions = await db.query("DELETE FROM refresh_tokens WHERE user_id = $1 RETURNING id", [userId]);
      const users = await db.query("DELETE FROM users WHERE id = $1 RETURNING id", [userId]);
      // Versions before ADR 0230 named the id in the invalidation log's keys (user:<id>): those rows go with
      // the person. Today's keys name only the subject hash the deletion ledger keeps (see eraseRowsOf).
      await db.query("DELETE FROM cache_invalidations WHERE lower(cache_key) = 'user:' || lower($1::text)", [userId]);
      return { users: users.length, content: content.length, attachments: attachments.length, sessions: sessions.length };
    },
    /** Blob keys of the person's attachments (taken before their rows go, to release the blobs after). */
    async blobKeysOf(userId: string): Promise<string[]> {
      const rows = await db.query<{ sha256: string }>(
        "SELECT DISTINCT sha256 FROM attachments WHERE owner_id = $1 OR content_id IN (SELECT id FROM content WHERE owner_id = $1)",
        [userId],
      );
      return rows.map((row) => row.sha256);
    },
    /** Every column of every table of the schema (the migrations' bookkeeping table aside). */
    async schemaColumns(): Promise<{ table: string; column: string }[]> {
      const rows = await db.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'
         ORDER BY table_name, ordinal_position`,
      );
      return rows.map((row) => ({ table: row.table_name, column: row.column_name }));
    },
    /** Ids of accounts whose id hashes (SHA-256 of the id's text) to one of the given values. */
    async usersWithIdHash(hashes: string[]): Promise<string[]> {
      if (hashes.length === 0) return [];
      const rows = await db.query<{ id: string }>("SELECT id FROM users WHERE encode(sha256(convert_to(id::text, 'UTF8')), 'hex') = ANY($1::text[])", [hashes]);
      return rows.map((row) => row.id);
    },
  };
}

export type GdprRepository = ReturnType<typeof createGdprRepository>;
