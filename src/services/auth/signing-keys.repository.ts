import type { JWK } from "jose";
import type { Queryable } from "../../platform/db/db.ts";

export interface SigningKeyRecord {
  kid: string;
  algorithm: string;
  publicJwk: JWK;
  privateKeyEncrypted: string;
  createdAt: Date;
}

interface Row {
  kid: string;
  algorithm: string;
  public_jwk: JWK | string;
  private_key_encrypted: string;
  created_at: Date;
}

/** Signing keys: public part in the clear (it is published), private part encrypted with the master key. */
export function createSigningKeysRepository(db: Queryable) {
  return {
    /** Keys in service, newest first. */
    async listActive(): Promise<SigningKeyRecord[]> {
      const rows = await db.query<Row>(
        "SELECT kid, algorithm, public_jwk, private_key_encrypted, created_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid",
      );
      return rows.map((row) => ({
        kid: row.kid,
        algorithm: row.algorithm,
        publicJwk: typeof row.public_jwk === "string" ? (JSON.parse(row.public_jwk) as JWK) : row.public_jwk,
        privateKeyEncrypted: row.private_key_encrypted,
        createdAt: row.created_at,
      }));
    },
    async insert(key: { kid: string; algorithm: string; publicJwk: JWK; privateKeyEncrypted: string }): Promise<void> {
      await db.query("INSERT INTO signing_keys (kid, algorithm, public_jwk, private_key_encrypted) VALUES ($1, $2, $3, $4)", [
        key.kid,
        key.algorithm,
        JSON.stringify(key.publicJwk),
        key.privateKeyEncrypted,
      ]);
    },
  };
}

export type SigningKeysRepository = ReturnType<typeof createSigningKeysRepository>;
