import { randomUUID } from "node:crypto";
import { SignJWT, exportJWK, exportPKCS8, generateKeyPair, importPKCS8, type CryptoKey, type JWK } from "jose";
import { DecryptionError, decrypt, deriveKey, encrypt } from "../../platform/secrets.ts";
import { ACCESS_TOKEN_TYPE } from "../../platform/token-verifier.ts";
import type { SigningKeysRepository } from "./signing-keys.repository.ts";

const ALGORITHM = "EdDSA";

export interface Signer {
  /** Signs an access token for `subject`, valid for ttlSeconds from nowMs. */
  signAccessToken(subject: string, nowMs: number): Promise<{ token: string; expiresIn: number }>;
  /** The public keys to publish at /.well-known/jwks.json. */
  jwks(): { keys: JWK[] };
}

export interface SignerOptions {
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  masterSecret: string;
}

/** Loads the newest signing key, creating the first one on first start. */
export async function loadSigner(repo: SigningKeysRepository, options: SignerOptions, onCreated: (kid: string) => void): Promise<Signer> {
  const encryptionKey = deriveKey(options.masterSecret, "signing-keys");
  let keys = await repo.listActive();
  if (keys.length === 0) {
    const kid = randomUUID();
    const pair = await generateKeyPair(ALGORITHM, { crv: "Ed25519", extractable: true });
    const publicJwk = await exportJWK(pair.publicKey);
    await repo.insert({ kid, algorithm: ALGORITHM, publicJwk, privateKeyEncrypted: encrypt(encryptionKey, await exportPKCS8(pair.privateKey)) });
    onCreated(kid);
    keys = await repo.listActive();
  }
  const newest = keys[0];
  if (!newest) throw new Error("no signing key could be created");
  let privateKey: CryptoKey;
  try {
    privateKey = await importPKCS8(decrypt(encryptionKey, newest.privateKeyEncrypted), ALGORITHM);
  } catch (error) {
    if (error instanceof DecryptionError) {
      throw new Error(
        "The signing keys in the database were encrypted with a different AZORA_MASTER_KEY. Start with the master key this database was set up with.",
      );
    }
    throw error;
  }
  const published = { keys: keys.map((key) => ({ ...key.publicJwk, kid: key.kid, alg: key.algorithm, use: "sig" })) };

  return {
    async signAccessToken(subject, nowMs) {
      const issuedAt = Math.floor(nowMs / 1000);
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: ALGORITHM, kid: newest.kid, typ: ACCESS_TOKEN_TYPE })
        .setSubject(subject)
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + options.accessTtlSeconds)
        .setJti(randomUUID())
        .sign(privateKey);
      return { token, expiresIn: options.accessTtlSeconds };
    },
    jwks: () => published,
  };
}
