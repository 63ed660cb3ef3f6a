import type { Queryable } from "../../platform/db/db.ts";

export interface Account {
  id: string;
  email: string;
  passwordHash: string;
  name: string | null;
  role: "user" | "admin";
  disabledAt: Date | null;
  createdAt: Date;
}

interface AccountRow {
  id: string;
  email: string;
  password_hash: string;
  name: string | null;
  role: "user" | "admin";
  disabled_at: Date | null;
  created_at: Date;
}

const toAccount = (row: AccountRow): Account => ({
  id: row.id,
  email: row.email,
  passwordHash: row.password_hash,
  name: row.name,
  role: row.role,
  disabledAt: row.disabled_at,
  createdAt: row.created_at,
});

const columns = "id, email, password_hash, name, role, disabled_at, created_at";

/** Credentials of users: the auth service's view of the users table. */
export function createAccountsRepository(db: Queryable) {
  return {
    async findByEmail(email: string): Promise<Account | undefined> {
      const rows = await db.query<AccountRow>(`SELECT ${columns} FROM users WHERE email = $1`, [email]);
      return rows[0] && toAccount(rows[0]);
    },
    async findById(id: string): Promise<Account | undefined> {
      const rows = await db.query<AccountRow>(`SELECT ${columns} FROM users WHERE id = $1`, [id]);
      return rows[0] && toAccount(rows[0]);
    },
    /** Inserts the account unless the email is taken; returns the new id or undefined. */
    async insertIfAbsent(account: { email: string; passwordHash: string; name: string | null }): Promise<string | undefined> {
      const rows = await db.query<{ id: string }>(
        "INSERT INTO users (email, password_hash, name) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING RETURNING id",
        [account.email, account.passwordHash, account.name],
      );
      return rows[0]?.id;
    },
    async updatePasswordHash(id: string, passwordHash: string): Promise<void> {
      await db.query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", [id, passwordHash]);
    },
  };
}

export type AccountsRepository = ReturnType<typeof createAccountsRepository>;
