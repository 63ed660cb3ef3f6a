import { createHmac, randomBytes, randomUUID } from "node:crypto";
import type { Clock } from "../../platform/clock.ts";
import type { Db } from "../../platform/db/db.ts";
import { LogEvent } from "../../platform/log-events.ts";
import type { Logger } from "../../platform/logger.ts";
import { sha256 } from "../../platform/secrets.ts";
import type { AccountsRepository } from "./accounts.repository.ts";
import type { PasswordGuard } from "./password-guard.ts";
import { normalisePassword } from "./password-policy.ts";
import { dummyPasswordHash, hashPassword, needsRehash, verifyPassword } from "./passwords.ts";
import { createRefreshTokensRepository, type RefreshTokenRecord, type RefreshTokensRepository } from "./refresh-tokens.repository.ts";
import type { Signer } from "./signing-keys.ts";

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: "Bearer";
  expiresIn: number;
}

export type LoginResult =
  | { ok: true; tokens: TokenPair }
  | { ok: false; reason: "unknown_email" | "wrong_password" | "disabled" | "backoff" }
  | { ok: false; reason: "rate_limited"; retryAfterSeconds: number };
export type RefreshResult = { ok: true; tokens: TokenPair } | { ok: false; reason: "unknown" | "expired" | "reused" };

export interface AuthServiceDeps {
  db: Db;
  accounts: AccountsRepository;
  refreshTokens: RefreshTokensRepository;
  signer: Signer;
  clock: Clock;
  /** auth.log: the guide greps it for LOGIN_FAILED and friends. */
  eventLog: Logger;
  refreshTtlSeconds: number;
  /** A rotated refresh token presented again within this many seconds answers with its successor; 0: never. */
  refreshReuseGraceSeconds: number;
  /** Server key the successor of a refresh token is derived with (HMAC of the parent token). */
  successorKey: Buffer;
  /** The limiter every password check goes through. */
  guard: PasswordGuard;
  /** Counts a failed login (azora_login_failures_total): the login-failure surge alert reads it. */
  onLoginFailed?: (reason: string) => void;
  /** The keyed stand-in for an email in log lines (`account`), so detectors can count per account. */
  accountKey: (email: string) => string;
}

/** Registration, login and the refresh-token life cycle. Expected failures are values, not exceptions. */
export function createAuthService(deps: AuthServiceDeps) {
  const { accounts, refreshTokens, signer, clock, eventLog } = deps;

  /**
   * A rotated token's successor is derived from it with the server key, not drawn at random: tokens are
   * stored hashed, and this is how a client that lost the rotation's answer can be handed the same successor again.
   */
  const successorOf = (parent: string) => createHmac("sha256", deps.successorKey).update(parent).digest("base64url");

  /** Stores a refresh token of the family (inside the caller's transaction when `store` is one). */
  async function storeRefreshToken(userId: string, familyId: string, store: RefreshTokensRepository, refreshToken: string): Promise<void> {
    await store.insert({ userId, familyId, tokenHash: sha256(refreshToken), expiresAt: new Date(clock.now() + deps.refreshTtlSeconds * 1000) });
  }

  /**
   * The pair handed to the client. Signed outside any transaction: the signer may reread the signing keys,
   * and on the embedded database (one connection) a read waiting behind an open transaction would never run.
   */
  async function pairOf(userId: string, refreshToken: string, validAfterMs: number): Promise<TokenPair> {
    const access = await signer.signAccessToken(userId, clock.now(), validAfterMs);
    return { accessToken: access.token, refreshToken, tokenType: "Bearer", expiresIn: access.expiresIn };
  }

  async function issueTokens(userId: string, familyId: string, validAfterMs: number): Promise<TokenPair> {
    const refreshToken = randomBytes(32).toString("base64url");
    await storeRefreshToken(userId, familyId, refreshTokens, refreshToken);
    return pairOf(userId, refreshToken, validAfterMs);
  }

  /** The successor handed out again when `parent` was rotated within the grace interval and the successor is still unused. */
  async function successorWithinGrace(parent: string, record: RefreshTokenRecord, nowMs: number): Promise<TokenPair | undefined> {
    if (!record.rotatedAt || record.revokedAt || nowMs - record.rotatedAt.getTime() > deps.refreshReuseGraceSeconds * 1000) return undefined;
    const successor = successorOf(parent);
    const next = await refreshTokens.findByHash(sha256(successor));
    // Used or ended already: whoever holds the parent is not the client that lost the answer.
    if (!next || next.familyId !== record.familyId || next.rotatedAt || next.revokedAt || next.expiresAt.getTime() <= nowMs) return undefined;
    const account = await accounts.findById(record.userId);
    if (!account || account.disabledAt) return undefined;
    const access = await signer.signAccessToken(record.userId, nowMs, account.tokensValidAfterMs);
    return { accessToken: access.token, refreshToken: successor, tokenType: "Bearer", expiresIn: access.expiresIn };
  }

  /** Reuse after the grace interval (or of a successor already used): the family dies and the theft is reported once. */
  async function reuseDetected(record: RefreshTokenRecord, now: Date, ip: string): Promise<RefreshResult> {
    await refreshTokens.revokeFamily(record.familyId, now, "reuse");
    eventLog.warn({ event: LogEvent.TOKEN_REUSED, userId: record.userId, familyId: record.familyId, ip }, "refresh token reused");
    return { ok: false, reason: "reused" };
  }

  return {
    /** Creates the account when the email is free; the caller answers the same either way. The password passed the policy. */
    async register(input: { email: string; password: string; name: string | null }): Promise<void> {
      // Hash first in both cases so a taken email does not answer faster.
      const passwordHash = await hashPassword(input.password);
      const id = await accounts.insertIfAbsent({ email: input.email, passwordHash, name: input.name });
      if (id) eventLog.info({ event: LogEvent.USER_REGISTERED, userId: id, email: input.email }, "user registered");
    },

    async login(input: { email: string; password: string; ip: string }): Promise<LoginResult> {
      const account = await accounts.findByEmail(input.email);
      const normalised = normalisePassword(input.password);
      let storedFromRawForm = false;
      // Unknown emails go through the guard too (keyed by the email), so they are throttled alike.
      const verdict = await deps.guard.guardPasswordCheck({ account: input.email, ip: input.ip, purpose: "login" }, async () => {
        const hash = account?.passwordHash ?? (await dummyPasswordHash());
        if (normalised === undefined) {
          // Refused form (control characters, lone surrogates): the same work as a wrong password, then no.
          await verifyPassword(hash, "azora-refused-form");
          return false;
        }
        if (await verifyPassword(hash, normalised)) return account !== undefined;
        // Hashes made before NFKC normalisation hold the password as it was typed: still accepted, rehashed below.
        // The second check runs for unknown emails too, so its cost does not tell which emails have accounts.
        if (normalised !== input.password && (await verifyPassword(hash, input.password)) && account) return (storedFromRawForm = true);
        return false;
      });
      const failure = !account ? "unknown_email" : !verdict.ok ? verdict.reason : account.disabledAt ? "disabled" : undefined;
      if (failure || !account) {
        const reason = failure ?? "unknown_email";
        eventLog.warn({ event: LogEvent.LOGIN_FAILED, email: input.email, account: deps.accountKey(input.email), userId: account?.id, ip: input.ip, reason }, "login failed");
        deps.onLoginFailed?.(reason);
        if (!verdict.ok && verdict.reason === "rate_limited") return verdict;
        return { ok: false, reason: reason === "rate_limited" ? "wrong_password" : reason };
      }
      if (storedFromRawForm || needsRehash(account.passwordHash)) {
        await accounts.updatePasswordHash(account.id, await hashPassword(normalised ?? input.password));
      }
      const tokens = await issueTokens(account.id, randomUUID(), account.tokensValidAfterMs);
      eventLog.info({ event: LogEvent.LOGIN_SUCCEEDED, userId: account.id, account: deps.accountKey(input.email), ip: input.ip }, "login succeeded");
      return { ok: true, tokens };
    },

    /** Rotates a refresh token; presenting a used one revokes its whole family, unless within the grace interval. */
    async refresh(input: { refreshToken: string; ip: string }): Promise<RefreshResult> {
      const record = await refreshTokens.findByHash(sha256(input.refreshToken));
      if (!record) return { ok: false, reason: "unknown" };
      const now = new Date(clock.now());
      // Ended unused by logout or an operator: invalid, and no sign that anyone reused it.
      if (record.revokedAt && !record.rotatedAt && (record.revokedReason === "logout" || record.revokedReason === "account")) return { ok: false, reason: "unknown" };
      // The family was already revoked for reuse (null: before reasons were kept): still token_reused,
      // but the theft was reported once, not again on every try.
      if (record.revokedAt && (record.revokedReason === "reuse" || record.revokedReason === null)) return { ok: false, reason: "reused" };
      if (record.revokedAt && !record.rotatedAt) return { ok: false, reason: "reused" };
      if (record.rotatedAt) {
        const again = await successorWithinGrace(input.refreshToken, record, now.getTime());
        return again ? { ok: true, tokens: again } : reuseDetected(record, now, input.ip);
      }
      if (record.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: "expired" };
      const account = await accounts.findById(record.userId);
      if (!account || account.disabledAt) return { ok: false, reason: "unknown" };
      const successor = successorOf(input.refreshToken);
      const rotated = await deps.db.transaction(async (tx) => {
        const store = createRefreshTokensRepository(tx);
        if (!(await store.markRotated(record.id, now))) return false;
        await storeRefreshToken(record.userId, record.familyId, store, successor);
        return true;
      });
      if (rotated) return { ok: true, tokens: await pairOf(record.userId, successor, account.tokensValidAfterMs) };
      // A concurrent request with the same token rotated it first (a client retrying): the same successor,
      // within the grace interval; otherwise reuse.
      const current = (await refreshTokens.findByHash(sha256(input.refreshToken))) ?? record;
      const again = await successorWithinGrace(input.refreshToken, current, now.getTime());
      return again ? { ok: true, tokens: again } : reuseDetected(current, now, input.ip);
    },

    /** Ends the session the refresh token belongs to; unknown tokens are ignored. */
    async logout(refreshToken: string): Promise<void> {
      const record = await refreshTokens.findByHash(sha256(refreshToken));
      if (!record) return;
      await refreshTokens.revokeFamily(record.familyId, new Date(clock.now()), "logout");
      eventLog.info({ event: LogEvent.LOGOUT, userId: record.userId }, "logged out");
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
