import { recordInvalidations } from "../../platform/cache/invalidation-log.repository.ts";
import type { Db } from "../../platform/db/db.ts";

export interface UserProfile {
  id: string;
  email: string;
  name: string | null;
  role: "user" | "admin";
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: string;
  email: string;
  name: string | null;
  role: "user" | "admin";
  created_at: Date;
  updated_at: Date;
}

const toProfile = (row: Row): UserProfile => ({
  id: row.id,
  email: row.email,
  name: row.name,
  role: row.role,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const columns = "id, email, name, role, created_at, updated_at";

/**
 * The users service's view of the users table: profiles, never credentials. Writes record the cache keys
 * they make stale (`invalidates`) in the same transaction, so no cache keeps them past the commit.
 */
export function createUsersRepository(db: Db) {
  return {
    async findById(id: string): Promise<UserProfile | undefined> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM users WHERE id = $1 AND disabled_at IS NULL`, [id]);
      return rows[0] && toProfile(rows[0]);
    },
    async findByEmail(email: string): Promise<UserProfile | undefined> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM users WHERE email = $1`, [email]);
      return rows[0] && toProfile(rows[0]);
    },
    async updateName(id: string, name: string | null, invalidates: string[]): Promise<UserProfile | undefined> {
      return db.transaction(async (tx) => {
        const rows = await tx.query<Row>(`UPDATE users SET name = $2, updated_at = now() WHERE id = $1 AND disabled_at IS NULL RETURNING ${columns}`, [id, name]);
        if (rows[0]) await recordInvalidations(tx, invalidates);
        return rows[0] && toProfile(rows[0]);
      });
    },
    async setRole(id: string, role: UserProfile["role"], invalidates: string[]): Promise<void> {
      await db.transaction(async (tx) => {
        await tx.query("UPDATE users SET role = $2, updated_at = now() WHERE id = $1", [id, role]);
        await recordInvalidations(tx, invalidates);
      });
    },
  };
}

export type UsersRepository = ReturnType<typeof createUsersRepository>;
