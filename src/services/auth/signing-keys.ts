import { randomUUID } from "node:crypto";
import { SignJWT, exportJWK, exportPKCS8, generateKeyPair, importPKCS8, type CryptoKey, type JWK } from "jose";
import type { Clock } from "../../platform/clock.ts";
import { DecryptionError, decrypt, deriveKey, encrypt } from "../../platform/secrets.ts";
import { issuedAtFor } from "../../platform/revocation/revocation.ts";
import { ACCESS_TOKEN_TYPE } from "../../platform/token-verifier.ts";
import type { SigningKeyRecord, SigningKeysRepository } from "./signing-keys.repository.ts";

const ALGORITHM = "EdDSA";
/**
 * How often a running signer rereads the keys: a rotation's stages (publish, sign, retire) are times in the table.
 * A new key reaches an auth process's JWKS up to this long after it is inserted, so a rotation adds it to the wait.
 */
export const SIGNER_RELOAD_MS = 2_000;

export interface Signer {
  /** Signs an access token for `subject`, valid for ttlSeconds from nowMs, never dated before the subject's cut-off. */
  signAccessToken(subject: string, nowMs: number, validAfterMs?: number): Promise<{ token: string; expiresIn: number }>;
  /** The public keys to publish at /.well-known/jwks.json: the signing key, keys waiting to sign, keys not yet retired. */
  jwks(): Promise<{ keys: JWK[] }>;
}

export interface SignerOptions {
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  masterSecret: string;
  clock: Clock;
}

/** A new Ed25519 key, its private part encrypted with the master key, ready for the repository. */
export async function newSigningKey(masterSecret: string): Promise<{ kid: string; algorithm: string; publicJwk: JWK; privateKeyEncrypted: string }> {
  const kid = randomUUID();
  const pair = await generateKeyPair(ALGORITHM, { crv: "Ed25519", extractable: true });
  const publicJwk = await exportJWK(pair.publicKey);
  return { kid, algorithm: ALGORITHM, publicJwk, privateKeyEncrypted: encrypt(deriveKey(masterSecret, "signing-keys"), await exportPKCS8(pair.privateKey)) };
}

/** Loads the signing keys, creating the first one on first start; rereads them so a rotation reaches running processes. */
export async function loadSigner(repo: SigningKeysRepository, options: SignerOptions, onCreated: (kid: string) => void): Promise<Signer> {
  const encryptionKey = deriveKey(options.masterSecret, "signing-keys");
  const clock = options.clock;
  if ((await repo.listActive(new Date(clock.now()))).length === 0) {
    const key = await newSigningKey(options.masterSecret);
    await repo.insert({ ...key, signsFrom: new Date(clock.now()) });
    onCreated(key.kid);
  }
  const privateKeys = new Map<string, CryptoKey>();
  let keys: SigningKeyRecord[] = [];
  let loadedAt = -Infinity;

  async function current(): Promise<SigningKeyRecord[]> {
    const now = clock.now();
    if (now - loadedAt >= SIGNER_RELOAD_MS || now < loadedAt) {
      try {
        keys = await repo.listActive(new Date(now));
        loadedAt = now;
      } catch (error) {
        // The database is down: the keys last read still verify tokens (the JWKS keeps being served, so a
        // request is answered 503 database_unavailable by what needs the database, never 401). Tried again
        // on every call until the database answers.
        if (keys.length === 0) throw error;
        // A key whose retirement time passes meanwhile leaves the JWKS all the same (the database would
        // no longer list it).
        return keys.filter((key) => key.retiredAt === null || key.retiredAt.getTime() > now);
      }
    }
    return keys;
  }

  async function privateKeyOf(record: SigningKeyRecord): Promise<CryptoKey> {
    const known = privateKeys.get(record.kid);
    if (known) return known;
    try {
      const key = await importPKCS8(decrypt(encryptionKey, record.privateKeyEncrypted), ALGORITHM);
      privateKeys.set(record.kid, key);
      return key;
    } catch (error) {
      if (error instanceof DecryptionError) {
        throw new Error("The signing keys in the database were encrypted with a different AZORA_MASTER_KEY. Start with the master key this database was set up with.");
      }
      throw error;
    }
  }

  /** The newest key whose signing time has come; a key still waiting is only published. */
  async function signingKey(nowMs: number): Promise<SigningKeyRecord> {
    const all = await current();
    // Before any key's signing time (only right after a rotation's first step on a clock set back): the oldest.
    const newest = all.find((key) => key.signsFrom.getTime() <= nowMs) ?? all[all.length - 1];
    if (!newest) throw new Error("no signing key is in service");
    return newest;
  }

  // Fail at start, not at the first login, when the master key does not match.
  await privateKeyOf(await signingKey(clock.now()));

  return {
    async signAccessToken(subject, nowMs, validAfterMs = 0) {
      const key = await signingKey(nowMs);
      const issuedAt = issuedAtFor(nowMs, validAfterMs);
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: ALGORITHM, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
        .setSubject(subject)
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + options.accessTtlSeconds)
        .setJti(randomUUID())
        .sign(await privateKeyOf(key));
      return { token, expiresIn: options.accessTtlSeconds };
    },
    async jwks() {
      return { keys: (await current()).map((key) => ({ ...key.publicJwk, kid: key.kid, alg: key.algorithm, use: "sig" })) };
    },
  };
}
