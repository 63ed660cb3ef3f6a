import type { Queryable } from "../../platform/db/db.ts";

export interface ContentItem {
  id: string;
  ownerId: string;
  title: string;
  body: string;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  owner_id: string;
  title: string;
  body: string;
  created_at: Date;
  updated_at: Date;
}

const toItem = (row: Row): ContentItem => ({
  id: row.id,
  ownerId: row.owner_id,
  title: row.title,
  body: row.body,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const columns = "id, owner_id, title, body, created_at, updated_at";

/** User-generated content. */
export function createContentRepository(db: Queryable) {
  return {
    /** Undefined when the owner's account is gone (erased while their access token is still valid). */
    async insert(item: { ownerId: string; title: string; body: string }): Promise<ContentItem | undefined> {
      const rows = await db.query<Row>(
        `INSERT INTO content (owner_id, title, body) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) RETURNING ${columns}`,
        [item.ownerId, item.title, item.body],
      );
      return rows[0] && toItem(rows[0]);
    },
    async findById(id: string): Promise<ContentItem | undefined> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM content WHERE id = $1`, [id]);
      return rows[0] && toItem(rows[0]);
    },
    /** A page of the owner's items, newest first. */
    async listByOwner(ownerId: string, limit: number, offset: number): Promise<ContentItem[]> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM content WHERE owner_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`, [
        ownerId,
        limit,
        offset,
      ]);
      return rows.map(toItem);
    },
    async update(id: string, changes: { title: string; body: string }): Promise<ContentItem | undefined> {
      const rows = await db.query<Row>(`UPDATE content SET title = $2, body = $3, updated_at = now() WHERE id = $1 RETURNING ${columns}`, [
        id,
        changes.title,
        changes.body,
      ]);
      return rows[0] && toItem(rows[0]);
    },
    async delete(id: string): Promise<boolean> {
      return (await db.query(`DELETE FROM content WHERE id = $1 RETURNING id`, [id])).length === 1;
    },
  };
}

export type ContentRepository = ReturnType<typeof createContentRepository>;
