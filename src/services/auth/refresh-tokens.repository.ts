import type { Queryable } from "../../platform/db/db.ts";

export interface RefreshTokenRecord {
  id: string;
  userId: string;
  familyId: string;
  expiresAt: Date;
  rotatedAt: Date | null;
  revokedAt: Date | null;
}

interface Row {
  id: string;
  user_id: string;
  family_id: string;
  expires_at: Date;
  rotated_at: Date | null;
  revoked_at: Date | null;
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
        "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
        [tokenHash],
      );
      const row = rows[0];
      return row && { id: row.id, userId: row.user_id, familyId: row.family_id, expiresAt: row.expires_at, rotatedAt: row.rotated_at, revokedAt: row.revoked_at };
    },
    /** Marks the token used; false when another request rotated it first (the loser is a reuse). */
    async markRotated(id: string, at: Date): Promise<boolean> {
      const rows = await db.query("UPDATE refresh_tokens SET rotated_at = $2 WHERE id = $1 AND rotated_at IS NULL AND revoked_at IS NULL RETURNING id", [id, at]);
      return rows.length === 1;
    },
    async revokeFamily(familyId: string, at: Date): Promise<void> {
      await db.query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL", [familyId, at]);
    },
  };
}

export type RefreshTokensRepository = ReturnType<typeof createRefreshTokensRepository>;
