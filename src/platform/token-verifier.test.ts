import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_TOKEN_TYPE, createTokenVerifier, type TokenVerifier } from "./token-verifier.ts";

const issuer = "https://issuer.test";
const audience = "azora-test";

interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function newKey(): Promise<Key> {
  const kid = randomUUID();
  const pair = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  return { kid, privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: "EdDSA", use: "sig" } };
}

const tokenOf = (key: Pick<Key, "kid" | "privateKey">) =>
  new SignJWT({})
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: ACCESS_TOKEN_TYPE })
    .setSubject(randomUUID())
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime("5m")
    .setJti(randomUUID())
    .sign(key.privateKey);

/**
 * A rotation's worst interleaving, driven step by step against a real JWKS endpoint: the verifier fills its
 * cache, a new key is published, and a token of the new key arrives while that cache is still fresh.
 */
describe("token verifier and a key published after its JWKS cache was filled", () => {
  let server: Server;
  let published: JWK[] = [];
  let fetches = 0;
  let jwksUrl = "";

  beforeAll(async () => {
    server = createServer((_request, response) => {
      fetches++;
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

  // The default cache age (600 s): only a refetch on the unknown kid can find the new key in this test.
  const verifier = (): TokenVerifier => createTokenVerifier({ jwksUrl: () => jwksUrl, issuer, audience, maxLifetimeSeconds: 900, clockSkewSeconds: 1 });

  it("accepts the new key's first token at once, with one refetch shared by concurrent requests", async () => {
    const oldKey = await newKey();
    published = [oldKey.jwk];
    const check = verifier();
    expect(await check.verify(`Bearer ${await tokenOf(oldKey)}`)).toMatchObject({ ok: true });

    const rotated = await newKey();
    published = [rotated.jwk, oldKey.jwk];
    const before = fetches;
    const tokens = await Promise.all(Array.from({ length: 5 }, () => tokenOf(rotated)));
    const results = await Promise.all(tokens.map((token) => check.verify(`Bearer ${token}`)));
    expect(results.map((result) => result.ok)).toEqual([true, true, true, true, true]);
    expect(fetches - before).toBe(1);
    expect(await check.verify(`Bearer ${await tokenOf(oldKey)}`)).toMatchObject({ ok: true });
  });

  it("refuses forged kids with at most one refetch, however many arrive", async () => {
    const key = await newKey();
    published = [key.jwk];
    const check = verifier();
    expect(await check.verify(`Bearer ${await tokenOf(key)}`)).toMatchObject({ ok: true });

    const before = fetches;
    const forged = await Promise.all(Array.from({ length: 50 }, () => tokenOf({ kid: randomUUID(), privateKey: key.privateKey })));
    const results = [];
    for (const token of forged) results.push(await check.verify(`Bearer ${token}`));
    expect(results.every((result) => !result.ok && result.reason === "invalid")).toBe(true);
    // One refetch for the first unknown kid; the rest fall within the refetch interval (50 quick local
    // verifications finish well within it, so a second refetch at most if the machine stalls for a second).
    expect(fetches - before).toBeLessThanOrEqual(2);
  });
});

/**
 * The verified-token memory is keyed by the whole Authorization header: a remembered header must still be
 * refused once its token expires or its user's tokens are revoked, and must never answer for another header.
 */
describe("token verifier's memory of verified headers", () => {
  let server: Server;
  let key: Key;
  let jwksUrl = "";
  beforeAll(async () => {
    key = await newKey();
    server = createServer((_request, response) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [key.jwk] })));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

  it("still asks the revocation check, refuses after exp, and keeps one header's verdict to that header", async () => {
    let now = Date.now();
    let current = true;
    const verifier = createTokenVerifier({
      jwksUrl: () => jwksUrl,
      issuer,
      audience,
      maxLifetimeSeconds: 900,
      clockSkewSeconds: 1,
      clock: { now: () => now },
      revocation: { isCurrent: async () => current },
    });
    const token = await tokenOf(key);
    const header = `Bearer ${token}`;
    expect((await verifier.verify(header)).ok).toBe(true);
    expect((await verifier.verify(header)).ok).toBe(true);

    // Revoked while remembered: refused on the next request.
    current = false;
    expect(await verifier.verify(header)).toEqual({ ok: false, reason: "revoked" });
    current = true;

    // Another header: a tampered signature, the same token in another scheme, no scheme at all.
    const tampered = `Bearer ${token.slice(0, -2)}${token.endsWith("AA") ? "BB" : "AA"}`;
    expect((await verifier.verify(tampered)).ok).toBe(false);
    expect((await verifier.verify(`Basic ${token}`)).ok).toBe(false);
    expect((await verifier.verify(token)).ok).toBe(false);

    // Past exp (5 minutes and the skew): the remembered header no longer answers.
    now += 5 * 60_000 + 2_000;
    expect(await verifier.verify(header)).toEqual({ ok: false, reason: "expired" });
  });
});
