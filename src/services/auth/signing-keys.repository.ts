import type { JWK } from "jose";
import type { Queryable } from "../../platform/db/db.ts";

export interface SigningKeyRecord {
  kid: string;
  algorithm: string;
  publicJwk: JWK;
  privateKeyEncrypted: string;
  createdAt: Date;
  /** The key signs from this time on; before it, it is only published (JWKS caches catch up). */
  signsFrom: Date;
  /** Unpublished from this time on (null: in service). */
  retiredAt: Date | null;
}

interface Row {
  kid: string;
  algorithm: string;
  public_jwk: JWK | string;
  private_key_encrypted: string;
  created_at: Date;
  signs_from: Date;
  retired_at: Date | null;
}

const columns = "kid, algorithm, public_jwk, private_key_encrypted, created_at, signs_from, retired_at";

/** Signing keys: public part in the clear (it is published), private part encrypted with the master key. */
export function createSigningKeysRepository(db: Queryable) {
  return {
    /** Keys still published at `at` (retirement not reached), newest first. */
    async listActive(at: Date = new Date()): Promise<SigningKeyRecord[]> {
      const rows = await db.query<Row>(`SELECT ${columns} FROM signing_keys WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid`, [at]);
      return rows.map((row) => ({
        kid: row.kid,
        algorithm: row.algorithm,
        publicJwk: typeof row.public_jwk === "string" ? (JSON.parse(row.public_jwk) as JWK) : row.public_jwk,
        privateKeyEncrypted: row.private_key_encrypted,
        createdAt: row.created_at,
        signsFrom: row.signs_from,
        retiredAt: row.retired_at,
      }));
    },
    async insert(key: { kid: string; algorithm: string; publicJwk: JWK; privateKeyEncrypted: string; signsFrom?: Date }): Promise<void> {
      await db.query("INSERT INTO signing_keys (kid, algorithm, public_jwk, private_key_encrypted, signs_from) VALUES ($1, $2, $3, $4, coalesce($5, now()))", [
        key.kid,
        key.algorithm,
        JSON.stringify(key.publicJwk),
        key.privateKeyEncrypted,
        key.signsFrom ?? null,
      ]);
    },
    /** Schedules the retirement of every key except `keep` that has none yet; returns their kids. */
    async retireOthers(keep: string, at: Date): Promise<string[]> {
      const rows = await db.query<{ kid: string }>("UPDATE signing_keys SET retired_at = $2 WHERE kid <> $1 AND retired_at IS NULL RETURNING kid", [keep, at]);
      return rows.map((row) => row.kid);
    },
  };
}

export type SigningKeysRepository = ReturnType<typeof createSigningKeysRepository>;
