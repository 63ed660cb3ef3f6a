import type { Queryable } from "../../platform/db/db.ts";

/** The stored policy document (validated before it is written), where it came from, and when. */
export interface StoredPolicy {
  document: unknown;
  source: string;
  updatedAt: string;
}

interface Row {
  document: unknown;
  source: string;
  updated_at: Date;
}

export function createPolicyRepository(db: Queryable) {
  return {
    /** The stored policy, or undefined when none was ever stored (the shipped defaults apply). */
    async read(): Promise<StoredPolicy | undefined> {
      const [row] = await db.query<Row>("SELECT document, source, updated_at FROM security_policy WHERE id = 1");
      return row ? { document: typeof row.document === "string" ? JSON.parse(row.document) : row.document, source: row.source, updatedAt: row.updated_at.toISOString() } : undefined;
    },
    async write(document: unknown, source: string): Promise<StoredPolicy> {
      const [row] = await db.query<Row>(
        `INSERT INTO security_policy (id, document, source, updated_at) VALUES (1, $1::jsonb, $2, now())
         ON CONFLICT (id) DO UPDATE SET document = EXCLUDED.document, source = EXCLUDED.source, updated_at = now()
         RETURNING document, source, updated_at`,
        [JSON.stringify(document), source.slice(0, 1000)],
      );
      if (!row) throw new Error("security_policy was not written");
      return { document: typeof row.document === "string" ? JSON.parse(row.document) : row.document, source: row.source, updatedAt: row.updated_at.toISOString() };
    },
  };
}

export type PolicyRepository = ReturnType<typeof createPolicyRepository>;
