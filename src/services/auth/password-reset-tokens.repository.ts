import type { Queryable } from "../../platform/db/db.ts";

/** Password reset tokens, stored only as SHA-256 hashes; the SQL of their life cycle. */
export function createPasswordResetTokensRepository(db: Queryable) {
  return {
    async insert(token: { userId: string; tokenHash: string; createdAt: Date; expiresAt: Date }): Promise<void> {
      await db.query("INSERT INTO password_reset_tokens (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)", [
        token.userId,
        token.tokenHash,
        token.createdAt,
        token.expiresAt,
      ]);
    },
    /** Voids every token of the user that could still be used: a newer mail, a reset or a change replaces them. */
    async voidOpenTokensOf(userId: string, at: Date): Promise<void> {
      await db.query("UPDATE password_reset_tokens SET voided_at = $2 WHERE user_id = $1 AND used_at IS NULL AND voided_at IS NULL", [userId, at]);
    },
    /** The user of a token that can still be used at `at` (not used, not voided, not expired); nothing is changed. */
    async findUsable(tokenHash: string, at: Date): Promise<string | undefined> {
      const rows = await db.query<{ user_id: string }>(
        "SELECT user_id FROM password_reset_tokens WHERE token_hash = $1 AND used_at IS NULL AND voided_at IS NULL AND expires_at > $2",
        [tokenHash, at],
      );
      return rows[0]?.user_id;
    },
    /** Marks the token used when it still can be; its user, or undefined (a second use loses, even concurrently). */
    async consume(tokenHash: string, at: Date): Promise<string | undefined> {
      const rows = await db.query<{ user_id: string }>(
        "UPDATE password_reset_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND voided_at IS NULL AND expires_at > $2 RETURNING user_id",
        [tokenHash, at],
      );
      return rows[0]?.user_id;
    },
    /** Deletes up to `limit` tokens that expired before `expiredBefore`; returns how many. */
    async purge(expiredBefore: Date, limit: number): Promise<number> {
      const rows = await db.query(
        "DELETE FROM password_reset_tokens WHERE id IN (SELECT id FROM password_reset_tokens WHERE expires_at < $1 LIMIT $2) RETURNING id",
        [expiredBefore, limit],
      );
      return rows.length;
    },
  };
}

export type PasswordResetTokensRepository = ReturnType<typeof createPasswordResetTokensRepository>;
