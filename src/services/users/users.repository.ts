import type { Queryable } from "../../platform/db/db.ts";

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

/** The users service's view of the users table: profiles, never credentials. */
export function createUsersRepository(db: Queryable) {
  return {
    async findById(id: string): Promise<UserProfile | undefined> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM users WHERE id = $1 AND disabled_at IS NULL`, [id]);
      return rows[0] && toProfile(rows[0]);
    },
    async findByEmail(email: string): Promise<UserProfile | undefined> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM users WHERE email = $1`, [email]);
      return rows[0] && toProfile(rows[0]);
    },
    async updateName(id: string, name: string | null): Promise<UserProfile | undefined> {
      const rows = await db.query<Row>(`UPDATE users SET name = $2, updated_at = now() WHERE id = $1 AND disabled_at IS NULL RETURNING ${columns}`, [id, name]);
      return rows[0] && toProfile(rows[0]);
    },
    async setRole(id: string, role: UserProfile["role"]): Promise<void> {
      await db.query("UPDATE users SET role = $2, updated_at = now() WHERE id = $1", [id, role]);
    },
  };
}

export type UsersRepository = ReturnType<typeof createUsersRepository>;
