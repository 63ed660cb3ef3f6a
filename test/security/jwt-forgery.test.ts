import { randomUUID } from "node:crypto";
import { SignJWT, base64url, exportJWK, generateKeyPair, importPKCS8, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decrypt, deriveKey } from "../../src/platform/secrets.ts";
import { createSigningKeysRepository } from "../../src/services/auth/signing-keys.repository.ts";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";

/** A token from raw parts: for headers and algorithms jose will not sign (alg none, HS256 with a public key). */
const rawToken = (header: object, payload: object, signature = "") =>
  `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}.${signature}`;

describe.each(backends())("forged access tokens ($name)", (backend) => {
  let platform: TestPlatform;
  let ourKey: CryptoKey;
  let ourKid: string;
  let publicJwk: JWK;
  let userId: string;
  let validToken: string;

  beforeAll(async () => {
    platform = await startTestPlatform(backend);
    const { context } = platform.running;
    const [key] = await createSigningKeysRepository(context.db).listActive();
    if (!key) throw new Error("no signing key");
    ourKid = key.kid;
    publicJwk = key.publicJwk;
    ourKey = await importPKCS8(decrypt(deriveKey(context.masterSecret, "signing-keys"), key.privateKeyEncrypted), "EdDSA");
    const user = await apiClient(platform.baseUrl).newUser("forgery");
    userId = user.id;
    validToken = user.accessToken;
  });
  afterAll(async () => platform?.stop());

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (overrides: Record<string, unknown> = {}) => ({
    sub: userId,
    iss: platform.config.tokens.issuer,
    aud: platform.config.tokens.audience,
    iat: now(),
    exp: now() + 900,
    jti: randomUUID(),
    ...overrides,
  });
  /** Signed with the platform's real key: only the claim or header under test is wrong. */
  const signed = (overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    new SignJWT(claims(overrides)).setProtectedHeader({ alg: "EdDSA", kid: ourKid, typ: "at+jwt", ...header }).sign(ourKey);

  const forgeries: Record<string, () => Promise<string>> = {
    "alg none": async () => rawToken({ alg: "none", typ: "at+jwt", kid: ourKid }, claims()),
    "HS256 signed with the public key": async () => {
      const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
      return new SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid: ourKid, typ: "at+jwt" }).sign(secret);
    },
    "HS256 signed with the raw public key bytes": async () => {
      const secret = base64url.decode(String(publicJwk.x));
      return new SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid: ourKid, typ: "at+jwt" }).sign(secret);
    },
    "wrong audience": () => signed({ aud: "someone-else" }),
    "wrong issuer": () => signed({ iss: "https://evil.example" }),
    "wrong typ": () => signed({}, { typ: "JWT" }),
    "no typ": () => signed({}, { typ: undefined }),
    expired: () => signed({ iat: now() - 3600, exp: now() - 60 }),
    "nbf in the future": () => signed({ nbf: now() + 3600 }),
    "unknown kid": () => signed({}, { kid: randomUUID() }),
    "malformed kid (number)": () => signed({}, { kid: 42 }),
    "malformed kid (path)": () => signed({}, { kid: "../../../etc/passwd" }),
    "malformed kid (huge)": () => signed({}, { kid: "k".repeat(5000) }),
    "jku header": () => signed({}, { jku: "https://evil.example/jwks.json" }),
    "x5u header": () => signed({}, { x5u: "https://evil.example/cert.pem" }),
    "jwk header carrying the attacker's key": async () => {
      const attacker = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
      return new SignJWT(claims()).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: ourKid, jwk: await exportJWK(attacker.publicKey) }).sign(attacker.privateKey);
    },
    "signed by another Ed25519 key": async () => {
      const attacker = await generateKeyPair("EdDSA", { crv: "Ed25519" });
      return new SignJWT(claims()).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: ourKid }).sign(attacker.privateKey);
    },
    "iat in the future beyond the skew": () => signed({ iat: now() + 600, exp: now() + 1200 }),
    "lifetime longer than the maximum": () => signed({ iat: now(), exp: now() + 7 * 24 * 3600 }),
    "no iat": () => signed({ iat: undefined }),
    "sub not an id": () => signed({ sub: "admin" }),
    "sub an injection": () => signed({ sub: "' OR 1=1 --" }),
    "sub a number": () => signed({ sub: 42 }),
    "exp a string": () => signed({ exp: "tomorrow" }),
    "jti an object": () => signed({ jti: { a: 1 } }),
    "three dots of garbage": async () => "a.b.c",
    "header not JSON": async () => `${base64url.encode("not json")}.${base64url.encode("{}")}.`,
    "payload not JSON": async () => `${base64url.encode(JSON.stringify({ alg: "EdDSA", kid: ourKid, typ: "at+jwt" }))}.${base64url.encode("[[[")}.AAAA`,
  };

  it("a correctly signed token is accepted everywhere (the control case)", async () => {
    const { urls } = platform.running;
    for (const [base, path] of [[platform.baseUrl, "/api/auth/me"], [urls.auth!, "/api/auth/me"], [urls.users!, `/api/user/${userId}`], [platform.baseUrl, `/api/user/${userId}`]] as const) {
      expect((await apiClient(base).get(path, await signed())).status, `${base}${path}`).toBe(200);
    }
    expect((await apiClient(platform.baseUrl).get("/api/auth/me", validToken)).status).toBe(200);
  });

  it.each(Object.keys(forgeries))("%s → 401 at the gateway and at each service, never 500", async (name) => {
    const token = await forgeries[name]!();
    const { urls } = platform.running;
    const targets = [
      [platform.baseUrl, "/api/auth/me"],
      [platform.baseUrl, `/api/user/${userId}`],
      [urls.auth!, "/api/auth/me"],
      [urls.users!, `/api/user/${userId}`],
      [urls.users!, "/api/content"],
    ] as const;
    for (const [base, path] of targets) {
      const answer = await apiClient(base).get(path, token);
      expect(answer.status, `${name} at ${base}${path}`).toBe(401);
      expect(answer.body.error.code).toBe("invalid_token");
    }
  });
});
