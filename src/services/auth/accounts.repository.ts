import type { Queryable } from "../../platform/db/db.ts";

export interface Account {
  id: string;
  email: string;
  passwordHash: string;
  name: string | null;
  role: "user" | "admin";
  disabledAt: Date | null;
  /** Access tokens issued before this are refused (ms since the epoch; 0 when none were revoked). */
  tokensValidAfterMs: number;
  createdAt: Date;
}

interface AccountRow {
  id: string;
  email: string;
  password_hash: string;
  name: string | null;
  role: "user" | "admin";
  disabled_at: Date | null;
  tokens_valid_after: Date | null;
  created_at: Date;
}

const toAccount = (row: AccountRow): Account => ({
  id: row.id,
  email: row.email,
  passwordHash: row.password_hash,
  name: row.name,
  role: row.role,
  disabledAt: row.disabled_at,
  tokensValidAfterMs: row.tokens_valid_after?.getTime() ?? 0,
  createdAt: row.created_at,
});

const columns = "id, email, password_hash, name, role, disabled_at, tokens_valid_after, created_at";

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
    /** Disables (at a time) or enables (null) the account, with the cache keys the change makes stale. */
    async setDisabled(id: string, at: Date | null): Promise<void> {
      await db.query("UPDATE users SET disabled_at = $2, updated_at = now() WHERE id = $1", [id, at]);
    },
    /** Every account, oldest first: the targets of `azora password-reset --all`. */
    async listAll(): Promise<{ id: string; email: string }[]> {
      return db.query<{ id: string; email: string }>("SELECT id, email FROM users ORDER BY created_at, id");
    },
    async updatePasswordHash(id: string, passwordHash: string): Promise<void> {
      await db.query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", [id, passwordHash]);
    },
  };
}

export type AccountsRepository = ReturnType<typeof createAccountsRepository>;
