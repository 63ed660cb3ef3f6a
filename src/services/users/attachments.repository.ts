import type { Queryable } from "../../platform/db/db.ts";

export interface Attachment {
  id: string;
  contentId: string;
  ownerId: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  createdAt: string;
}

interface Row {
  id: string;
  content_id: string;
  owner_id: string;
  filename: string;
  content_type: string;
  size_bytes: string | number;
  sha256: string;
  created_at: Date;
}

const toAttachment = (row: Row): Attachment => ({
  id: row.id,
  contentId: row.content_id,
  ownerId: row.owner_id,
  filename: row.filename,
  contentType: row.content_type,
  size: Number(row.size_bytes),
  sha256: row.sha256,
  createdAt: row.created_at.toISOString(),
});

const columns = "id, content_id, owner_id, filename, content_type, size_bytes, sha256, created_at";

/** Attachment rows; the bytes are in the blob store under `sha256`. */
export function createAttachmentsRepository(db: Queryable) {
  return {
    async insert(row: { contentId: string; ownerId: string; filename: string; contentType: string; size: number; sha256: string }): Promise<Attachment> {
      const rows = await db.query<Row>(
        `INSERT INTO attachments (content_id, owner_id, filename, content_type, size_bytes, sha256) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${columns}`,
        [row.contentId, row.ownerId, row.filename, row.contentType, row.size, row.sha256],
      );
      return toAttachment(rows[0] as Row);
    },
    async find(contentId: string, id: string): Promise<Attachment | undefined> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM attachments WHERE id = $1 AND content_id = $2`, [id, contentId]);
      return rows[0] && toAttachment(rows[0]);
    },
    async listByContent(contentId: string): Promise<Attachment[]> {
      return (await db.query<Row>(`SELECT ${columns} FROM attachments WHERE content_id = $1 ORDER BY created_at, id`, [contentId])).map(toAttachment);
    },
    /** Every attachment of the user: on their own content, or theirs on someone else's. */
    async listByOwner(ownerId: string): Promise<Attachment[]> {
      const rows = await db.query<Row>(
        `SELECT ${columns} FROM attachments WHERE owner_id = $1 OR content_id IN (SELECT id FROM content WHERE owner_id = $1) ORDER BY created_at, id`,
        [ownerId],
      );
      return rows.map(toAttachment);
    },
    /** Deletes the row; returns its blob's key. */
    async delete(contentId: string, id: string): Promise<string | undefined> {
      const rows = await db.query<{ sha256: string }>("DELETE FROM attachments WHERE id = $1 AND content_id = $2 RETURNING sha256", [id, contentId]);
      return rows[0]?.sha256;
    },
    /** Every blob some attachment names (a content restore brings back only these). */
    async allBlobKeys(): Promise<string[]> {
      return (await db.query<{ sha256: string }>("SELECT DISTINCT sha256 FROM attachments")).map((row) => row.sha256);
    },
    async blobKeysOfContent(contentId: string): Promise<string[]> {
      return (await db.query<{ sha256: string }>("SELECT DISTINCT sha256 FROM attachments WHERE content_id = $1", [contentId])).map((row) => row.sha256);
    },
    /**
     * Serialises work on one blob across processes until the transaction ends, so a blob is never deleted
     * between an upload of equal bytes storing it and that upload's row being written.
     */
    async lockBlob(key: string): Promise<void> {
      await db.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 727102))", [key]);
    },
    async isBlobReferenced(key: string): Promise<boolean> {
      return (await db.query("SELECT 1 FROM attachments WHERE sha256 = $1 LIMIT 1", [key])).length > 0;
    },
  };
}

export type AttachmentsRepository = ReturnType<typeof createAttachmentsRepository>;
