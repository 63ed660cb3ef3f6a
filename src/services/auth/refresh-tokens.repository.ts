import type { Queryable } from "../../platform/db/db.ts";

export interface RefreshTokenRecord {
  id: string;
  userId: string;
  familyId: string;
  expiresAt: Date;
  rotatedAt: Date | null;
  revokedAt: Date | null;
  /** Why it was revoked: a token ended by logout or an operator is no sign of theft; null counts as reuse. */
  revokedReason: RevokedReason | null;
}

export type RevokedReason = "logout" | "reuse" | "account";

interface Row {
  id: string;
  user_id: string;
  family_id: string;
  expires_at: Date;
  rotated_at: Date | null;
  revoked_at: Date | null;
  revoked_reason: RevokedReason | null;
}

/** Refresh tokens, stored only as SHA-256 hashes, grouped in families that rotate together. */
export function createRefreshTokensRepository(db: Queryable) {
  return {
    async insert(token: { userId: string; familyId: string; tokenHash: string; expiresAt: Date }): Promise<void> {
      await db.query("INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)", [
        token.userId,
        token.familyId,
        token.tokenHash,
        token.expiresAt,
      ]);
    },
    async findByHash(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
      const rows = await db.query<Row>(
        "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at, revoked_reason FROM refresh_tokens WHERE token_hash = $1",
        [tokenHash],
      );
      const row = rows[0];
      return row && { id: row.id, userId: row.user_id, familyId: row.family_id, expiresAt: row.expires_at, rotatedAt: row.rotated_at, revokedAt: row.revoked_at, revokedReason: row.revoked_reason };
    },
    /** Marks the token used; false when another request rotated it first (the loser is a reuse). */
    async markRotated(id: string, at: Date): Promise<boolean> {
      const rows = await db.query("UPDATE refresh_tokens SET rotated_at = $2 WHERE id = $1 AND rotated_at IS NULL AND revoked_at IS NULL RETURNING id", [id, at]);
      return rows.length === 1;
    },
    /** Ends every session of the user; returns how many refresh tokens were still live. */
    async revokeAllOf(userId: string, at: Date): Promise<number> {
      return (await db.query("UPDATE refresh_tokens SET revoked_at = $2, revoked_reason = 'account' WHERE user_id = $1 AND revoked_at IS NULL RETURNING id", [userId, at])).length;
    },
    async revokeFamily(familyId: string, at: Date, reason: RevokedReason): Promise<void> {
      await db.query("UPDATE refresh_tokens SET revoked_at = $2, revoked_reason = $3 WHERE family_id = $1 AND revoked_at IS NULL", [familyId, at, reason]);
    },
    /** Deletes up to `limit` tokens expired before `expiredBefore` or revoked before `revokedBefore`; returns how many. */
    async purge(expiredBefore: Date, revokedBefore: Date, limit: number): Promise<number> {
      const rows = await db.query(
        `DELETE FROM refresh_tokens WHERE id IN (
           SELECT id FROM refresh_tokens WHERE expires_at < $1
           UNION
           SELECT id FROM refresh_tokens WHERE revoked_at < $2
           LIMIT $3
         ) RETURNING id`,
        [expiredBefore, revokedBefore, limit],
      );
      return rows.length;
    },
  };
}

export type RefreshTokensRepository = ReturnType<typeof createRefreshTokensRepository>;
