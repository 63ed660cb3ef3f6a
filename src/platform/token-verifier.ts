import type { FastifyRequest } from "fastify";
import { noteCaller } from "./http.ts";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, errors as joseErrors, type JWTVerifyGetKey } from "jose";
import { systemClock, type Clock } from "./clock.ts";
import { AppError } from "./errors.ts";
import { createRecentMap } from "./recent-map.ts";
import type { RevocationCheck } from "./revocation/revocation.ts";

/** What a verified access token tells a service about its caller. */
export interface AccessClaims {
  sub: string;
  jti: string;
  exp: number;
  /** Issued at, whole seconds: compared with the user's "tokens valid after" time. */
  iat: number;
}

export type Verification = { ok: true; claims: AccessClaims } | { ok: false; reason: "missing" | "malformed" | "expired" | "invalid" | "revoked" };

export interface TokenVerifier {
  verify(authorization: string | undefined): Promise<Verification>;
}

export const ACCESS_TOKEN_TYPE = "at+jwt";

/** Users are identified by UUIDs; a token's `sub` must be one. */
const userId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Our key ids are UUIDs; anything else is not one of our keys (and is not sent to the JWKS lookup). */
const keyId = userId;
/** The only signing algorithm the platform issues: anything else (none, HS256 with the public key, RS256 …) is refused. */
const ALLOWED_ALGORITHMS = ["EdDSA"];
/** Header parameters that point at a key of the sender's choosing, or demand extensions we do not implement. */
const refusedHeaderParameters = ["jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"];
/**
 * At most one JWKS refetch per this interval for kids the cached key set does not know: a key published
 * since the cache was filled is found at once, while forged kids cost the auth service one JWKS read a second.
 */
export const UNKNOWN_KID_REFETCH_MS = 1_000;

export interface VerifierOptions {
  jwksUrl: () => string;
  issuer: string;
  audience: string;
  /** Longest lifetime (exp − iat) accepted: a token minted for longer is refused even while unexpired. */
  maxLifetimeSeconds: number;
  /** Allowed clock difference for exp, nbf and iat. */
  clockSkewSeconds: number;
  /** How long the JWKS is kept; a rotation publishes a new key this long before it signs (JWKS_CACHE_SECONDS). */
  jwksCacheSeconds?: number;
  clock?: Clock;
  /** Refuses tokens of users that are gone, disabled or revoked; absent means signature and expiry only. */
  revocation?: RevocationCheck;
}

/** Checks the protected header before any key lookup: malformed input is a refusal, never an exception later. */
function headerProblem(token: string): string | undefined {
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
  } catch {
    return "malformed header";
  }
  if (typeof header.alg !== "string" || !ALLOWED_ALGORITHMS.includes(header.alg)) return "algorithm not allowed";
  if (typeof header.kid !== "string" || !keyId.test(header.kid)) return "malformed kid";
  if (refusedHeaderParameters.some((name) => name in header)) return "key-carrying header";
  return undefined;
}

/**
 * The one verifier every service shares: keys come from the auth service's JWKS (cached; an unknown
 * kid triggers one refetch, at most one a second, see unknownKidRefetch), verified tokens are cached until they expire.
 */
export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const clock = options.clock ?? systemClock;
  // A token that verifies is still refused once its user is gone, disabled, or had their tokens revoked.
  // Not async: without a revocation check a cache hit is answered without one more promise.
  const current = (claims: AccessClaims): Verification | Promise<Verification> =>
    !options.revocation ? { ok: true, claims } : options.revocation.isCurrent(claims.sub, claims.iat).then((isCurrent): Verification => (isCurrent ? { ok: true, claims } : { ok: false, reason: "revoked" }));

  // Built on first use: in `azora up` the auth service's port is known only once it listens.
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const cacheMs = (options.jwksCacheSeconds ?? 600) * 1000;
  const keys = () =>
    (jwks ??= createRemoteJWKSet(new URL(options.jwksUrl()), { cooldownDuration: Math.min(30_000, cacheMs), cacheMaxAge: cacheMs, timeoutDuration: 5_000 }));
  const resolveKey = unknownKidRefetch(keys);
  // Keyed by the whole Authorization header, so a hit skips parsing it. No per-entry TTL: each hit checks
  // `exp` itself, which keeps a lookup to a map read on the request path (at most 20,000 held, recent-map.ts).
  const verified = createRecentMap<string, AccessClaims>(10_000);

  return {
    async verify(authorization) {
      const cached = authorization === undefined ? undefined : verified.get(authorization);
      const now = clock.now();
      if (cached && cached.exp * 1000 > now) return current(cached);
      const token = bearerToken(authorization);
      if (token === undefined) return { ok: false, reason: "missing" };
      if (token === null) return { ok: false, reason: "malformed" };
      if (headerProblem(token)) return { ok: false, reason: "invalid" };
      try {
        const { payload } = await jwtVerify(token, resolveKey, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: ALLOWED_ALGORITHMS,
          typ: ACCESS_TOKEN_TYPE,
          requiredClaims: ["sub", "exp", "jti", "iat"],
          currentDate: new Date(now),
          clockTolerance: options.clockSkewSeconds,
          // Also refuses an iat in the future beyond the skew.
          maxTokenAge: options.maxLifetimeSeconds,
        });
        const { exp, iat } = payload;
        if (typeof exp !== "number" || typeof iat !== "number" || exp - iat > options.maxLifetimeSeconds) return { ok: false, reason: "invalid" };
        if (typeof payload.jti !== "string" || payload.jti.length === 0 || payload.jti.length > 200) return { ok: false, reason: "invalid" };
        // A subject that is not a user id (a token signed by a foreign tool with our key, say) is no caller
        // of ours: refused here, before it can reach a query as a malformed id.
        if (typeof payload.sub !== "string" || !userId.test(payload.sub)) return { ok: false, reason: "invalid" };
        const claims: AccessClaims = { sub: payload.sub.toLowerCase(), jti: String(payload.jti), exp: Number(payload.exp), iat: Number(payload.iat) };
        verified.set(authorization!, claims);
        return current(claims);
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: "expired" };
        // jose's generic error is the JWKS endpoint failing (not 200, or not JSON): ours, handled below.
        const jwksFailed = error instanceof joseErrors.JOSEError && error.code === "ERR_JOSE_GENERIC";
        if (error instanceof joseErrors.JOSEError && !(error instanceof joseErrors.JWKSTimeout) && !jwksFailed) return { ok: false, reason: "invalid" };
        // Input the checks above let through but jose cannot read (a claim of a strange type): the caller's fault.
        if (error instanceof TypeError && !/fetch/i.test(error.message)) return { ok: false, reason: "invalid" };
        // The JWKS could not be fetched (auth down or failing): that is ours, not the caller's fault.
        throw new AppError("service_unavailable", "Tokens cannot be verified right now; try again shortly.");
      }
    },
  };
}

/**
 * A key resolver that, on a kid the cached JWKS does not know, refetches the set once before refusing.
 * jose's own refetch on an unknown kid waits for its cooldown (the cache age here), so a verifier whose
 * cache was filled just before a rotation's key reached the JWKS would refuse that key's first tokens
 * for up to a whole cache age. Concurrent misses share one refetch; a monotonic clock bounds the rate
 * (an injected clock may stand still in tests).
 */
function unknownKidRefetch(keys: () => ReturnType<typeof createRemoteJWKSet>): JWTVerifyGetKey {
  let lastRefetch = -Infinity;
  let refetching: Promise<void> | undefined;
  return async (header, token) => {
    const set = keys();
    try {
      return await set(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      if (!refetching) {
        if (performance.now() - lastRefetch < UNKNOWN_KID_REFETCH_MS) throw error;
        lastRefetch = performance.now();
        refetching = set.reload().finally(() => (refetching = undefined));
      }
      await refetching;
      return set(header, token);
    }
  };
}

/** The token of an `Authorization: Bearer …` header: undefined when absent, null when malformed. */
export function bearerToken(header: string | undefined): string | null | undefined {
  if (header === undefined || header === "") return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
  return match?.[1] ?? null;
}

/** The caller's claims, or a 401 in the error shape. The caller is noted for the request's access line. */
export async function requireCaller(verifier: TokenVerifier, request: FastifyRequest): Promise<AccessClaims> {
  const result = await verifier.verify(request.headers.authorization);
  if (result.ok) {
    noteCaller(request, result.claims);
    return result.claims;
  }
  if (result.reason === "missing") throw new AppError("unauthorized", "Send an access token: Authorization: Bearer <token>.");
  throw new AppError("invalid_token", "The access token is invalid or expired.");
}
