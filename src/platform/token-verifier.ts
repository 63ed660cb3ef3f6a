import { createRemoteJWKSet, jwtVerify, errors as joseErrors } from "jose";
import { LRUCache } from "lru-cache";
import { AppError } from "./errors.ts";

/** What a verified access token tells a service about its caller. */
export interface AccessClaims {
  sub: string;
  jti: string;
  exp: number;
}

export type Verification = { ok: true; claims: AccessClaims } | { ok: false; reason: "missing" | "malformed" | "expired" | "invalid" };

export interface TokenVerifier {
  verify(authorization: string | undefined): Promise<Verification>;
}

export const ACCESS_TOKEN_TYPE = "at+jwt";

/**
 * The one verifier every service shares: keys come from the auth service's JWKS (cached; an unknown
 * kid triggers one refetch, rate-limited by jose's cooldown), verified tokens are cached until they expire.
 */
export function createTokenVerifier(options: { jwksUrl: () => string; issuer: string; audience: string }): TokenVerifier {
  // Built on first use: in `azora up` the auth service's port is known only once it listens.
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const keys = () =>
    (jwks ??= createRemoteJWKSet(new URL(options.jwksUrl()), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5_000 }));
  // No per-entry TTL: each hit checks `exp` itself, which keeps a lookup to a map read on the request path.
  const verified = new LRUCache<string, AccessClaims>({ max: 20_000 });

  return {
    async verify(authorization) {
      const token = bearerToken(authorization);
      if (token === undefined) return { ok: false, reason: "missing" };
      if (token === null) return { ok: false, reason: "malformed" };
      const cached = verified.get(token);
      if (cached && cached.exp * 1000 > Date.now()) return { ok: true, claims: cached };
      try {
        const { payload } = await jwtVerify(token, keys(), {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: ["EdDSA"],
          typ: ACCESS_TOKEN_TYPE,
          requiredClaims: ["sub", "exp", "jti"],
        });
        const claims: AccessClaims = { sub: String(payload.sub), jti: String(payload.jti), exp: Number(payload.exp) };
        verified.set(token, claims);
        return { ok: true, claims };
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: "expired" };
        if (error instanceof joseErrors.JOSEError && !(error instanceof joseErrors.JWKSTimeout)) return { ok: false, reason: "invalid" };
        // The JWKS could not be fetched (auth down): that is ours, not the caller's fault.
        throw new AppError("service_unavailable", "Tokens cannot be verified right now; try again shortly.");
      }
    },
  };
}

/** The token of an `Authorization: Bearer …` header: undefined when absent, null when malformed. */
export function bearerToken(header: string | undefined): string | null | undefined {
  if (header === undefined || header === "") return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
  return match?.[1] ?? null;
}

/** The caller's claims, or a 401 in the error shape. */
export async function requireCaller(verifier: TokenVerifier, authorization: string | undefined): Promise<AccessClaims> {
  const result = await verifier.verify(authorization);
  if (result.ok) return result.claims;
  if (result.reason === "missing") throw new AppError("unauthorized", "Send an access token: Authorization: Bearer <token>.");
  throw new AppError("invalid_token", "The access token is invalid or expired.");
}
