import { randomBytes, randomUUID } from "node:crypto";
import type { Clock } from "../../platform/clock.ts";
import type { Db } from "../../platform/db/db.ts";
import { LogEvent } from "../../platform/log-events.ts";
import type { Logger } from "../../platform/logger.ts";
import { sha256 } from "../../platform/secrets.ts";
import type { AccountsRepository } from "./accounts.repository.ts";
import { dummyPasswordHash, hashPassword, needsRehash, verifyPassword } from "./passwords.ts";
import { createRefreshTokensRepository, type RefreshTokensRepository } from "./refresh-tokens.repository.ts";
import type { Signer } from "./signing-keys.ts";

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: "Bearer";
  expiresIn: number;
}

export type LoginResult = { ok: true; tokens: TokenPair } | { ok: false; reason: "unknown_email" | "wrong_password" | "disabled" };
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
}

/** Registration, login and the refresh-token life cycle. Expected failures are values, not exceptions. */
export function createAuthService(deps: AuthServiceDeps) {
  const { accounts, refreshTokens, signer, clock, eventLog } = deps;

  async function issueTokens(userId: string, familyId: string, store: RefreshTokensRepository): Promise<TokenPair> {
    const now = clock.now();
    const refreshToken = randomBytes(32).toString("base64url");
    await store.insert({
      userId,
      familyId,
      tokenHash: sha256(refreshToken),
      expiresAt: new Date(now + deps.refreshTtlSeconds * 1000),
    });
    const access = await signer.signAccessToken(userId, now);
    return { accessToken: access.token, refreshToken, tokenType: "Bearer", expiresIn: access.expiresIn };
  }

  return {
    /** Creates the account when the email is free; the caller answers the same either way. */
    async register(input: { email: string; password: string; name: string | null }): Promise<void> {
      // Hash first in both cases so a taken email does not answer faster.
      const passwordHash = await hashPassword(input.password);
      const id = await accounts.insertIfAbsent({ email: input.email, passwordHash, name: input.name });
      if (id) eventLog.info({ event: LogEvent.USER_REGISTERED, userId: id, email: input.email }, "user registered");
    },

    async login(input: { email: string; password: string; ip: string }): Promise<LoginResult> {
      const account = await accounts.findByEmail(input.email);
      const matches = await verifyPassword(account?.passwordHash ?? (await dummyPasswordHash()), input.password);
      const failure = !account ? "unknown_email" : !matches ? "wrong_password" : account.disabledAt ? "disabled" : undefined;
      if (failure || !account) {
        const reason = failure ?? "unknown_email";
        eventLog.warn({ event: LogEvent.LOGIN_FAILED, email: input.email, userId: account?.id, ip: input.ip, reason }, "login failed");
        return { ok: false, reason };
      }
      if (needsRehash(account.passwordHash)) await accounts.updatePasswordHash(account.id, await hashPassword(input.password));
      const tokens = await issueTokens(account.id, randomUUID(), refreshTokens);
      eventLog.info({ event: LogEvent.LOGIN_SUCCEEDED, userId: account.id, ip: input.ip }, "login succeeded");
      return { ok: true, tokens };
    },

    /** Rotates a refresh token; presenting a used one revokes its whole family. */
    async refresh(input: { refreshToken: string; ip: string }): Promise<RefreshResult> {
      const record = await refreshTokens.findByHash(sha256(input.refreshToken));
      if (!record) return { ok: false, reason: "unknown" };
      const now = new Date(clock.now());
      if (record.rotatedAt || record.revokedAt) {
        await refreshTokens.revokeFamily(record.familyId, now);
        eventLog.warn({ event: LogEvent.TOKEN_REUSED, userId: record.userId, familyId: record.familyId, ip: input.ip }, "refresh token reused");
        return { ok: false, reason: "reused" };
      }
      if (record.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: "expired" };
      const account = await accounts.findById(record.userId);
      if (!account || account.disabledAt) return { ok: false, reason: "unknown" };
      const rotated = await deps.db.transaction(async (tx) => {
        const store = createRefreshTokensRepository(tx);
        if (!(await store.markRotated(record.id, now))) return undefined;
        return issueTokens(record.userId, record.familyId, store);
      });
      if (!rotated) {
        // A concurrent request used the same token first: treat it as reuse.
        await refreshTokens.revokeFamily(record.familyId, now);
        eventLog.warn({ event: LogEvent.TOKEN_REUSED, userId: record.userId, familyId: record.familyId, ip: input.ip }, "refresh token reused");
        return { ok: false, reason: "reused" };
      }
      return { ok: true, tokens: rotated };
    },

    /** Ends the session the refresh token belongs to; unknown tokens are ignored. */
    async logout(refreshToken: string): Promise<void> {
      const record = await refreshTokens.findByHash(sha256(refreshToken));
      if (!record) return;
      await refreshTokens.revokeFamily(record.familyId, new Date(clock.now()));
      eventLog.info({ event: LogEvent.LOGOUT, userId: record.userId }, "logged out");
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
