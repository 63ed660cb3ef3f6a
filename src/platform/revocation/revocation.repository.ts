import type { Queryable } from "../db/db.ts";

/** What decides whether a user's access tokens still count: the account exists, is enabled, and the cut-off. */
export interface TokenStanding {
  exists: boolean;
  disabled: boolean;
  /** Tokens issued before this (ms since the epoch) are refused; 0 when none were ever revoked. */
  validAfterMs: number;
}

/** The only SQL of token revocation: it lives on the users table, read by every process that verifies tokens. */
export function createRevocationRepository(db: Queryable) {
  return {
    async standingOf(userId: string): Promise<TokenStanding> {
      const [row] = await db.query<{ disabled: boolean; valid_after_ms: string | null }>(
        "SELECT disabled_at IS NOT NULL AS disabled, (extract(epoch FROM tokens_valid_after) * 1000)::bigint::text AS valid_after_ms FROM users WHERE id = $1",
        [userId],
      );
      if (!row) return { exists: false, disabled: false, validAfterMs: 0 };
      return { exists: true, disabled: row.disabled, validAfterMs: Number(row.valid_after_ms ?? 0) };
    },
    /** Moves the cut-off to `at` (never back, so a late writer cannot revive revoked tokens); false when there is no such user. */
    async revokeTokens(userId: string, at: Date): Promise<boolean> {
      const rows = await db.query(
        "UPDATE users SET tokens_valid_after = GREATEST(coalesce(tokens_valid_after, $2), $2) WHERE id = $1 RETURNING id",
        [userId, at.toISOString()],
      );
      return rows.length > 0;
    },
  };
}

export type RevocationRepository = ReturnType<typeof createRevocationRepository>;
