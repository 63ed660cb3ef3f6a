import type { Cache } from "../../platform/cache/cache.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Db, Queryable } from "../../platform/db/db.ts";
import { LogEvent } from "../../platform/log-events.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Mailer } from "../../platform/mailer.ts";
import { createRevocationRepository } from "../../platform/revocation/revocation.repository.ts";
import { standingCacheKey } from "../../platform/revocation/revocation.ts";
import { sha256 } from "../../platform/secrets.ts";
import { createAccountsRepository, type AccountsRepository } from "./accounts.repository.ts";
import type { PasswordGuard } from "./password-guard.ts";
import { normalisePassword } from "./password-policy.ts";
import { sendPasswordChangedMail, sendPasswordResetMail, type PasswordResetMailDeps } from "./password-reset-mail.ts";
import { createPasswordResetTokensRepository } from "./password-reset-tokens.repository.ts";
import { hashPassword, verifyPassword } from "./passwords.ts";
import { createRefreshTokensRepository } from "./refresh-tokens.repository.ts";

/** Reset mails one account can be sent per hour through the forgot route; more requests are answered alike and dropped. */
export const RESET_MAILS_PER_ACCOUNT_HOUR = 5;
/** Mail jobs waiting at most; beyond, requests are dropped (and logged) rather than held in memory. */
const MAX_PENDING_JOBS = 1_000;
/**
 * A forgot job starts this long after its answer was written. In `azora up` the gateway relays that answer in
 * the same process: a job started at once (with the embedded database, its queries run on this thread) would
 * slow the relay of answers for known emails and show in their timing.
 */
const FORGOT_JOB_DELAY_MS = 100;

export interface PasswordResetServiceDeps {
  db: Db;
  cache: Cache;
  clock: Clock;
  accounts: AccountsRepository;
  guard: PasswordGuard;
  mailer: Mailer;
  mail: PasswordResetMailDeps["mail"];
  /** auth.log (PASSWORD_RESET, PASSWORD_CHANGED) */
  eventLog: Logger;
}

export type ResetResult = { ok: true } | { ok: false; reason: "invalid_token" };
export type ChangeResult = { ok: true; userId: string; validAfterMs: number } | { ok: false; reason: "unknown_account" | "wrong_password" } | { ok: false; reason: "rate_limited"; retryAfterSeconds: number };

/** Forgot, reset and change of passwords. Mail goes out off the response path, one job at a time. */
export function createPasswordResetService(deps: PasswordResetServiceDeps) {
  const { db, clock, accounts, eventLog } = deps;
  const mailDeps: PasswordResetMailDeps = { db, clock, mail: deps.mail, mailer: deps.mailer };
  let queue: Promise<void> = Promise.resolve();
  let pending = 0;
  /** Forgot jobs waiting for their delay, by timer. */
  const delayed = new Map<ReturnType<typeof setTimeout>, string>();

  /** Runs `job` after the jobs before it; its failure is logged (never the token), never thrown at a caller. */
  function enqueue(name: string, job: () => Promise<void>): void {
    if (pending >= MAX_PENDING_JOBS) {
      eventLog.warn({ event: "mail_queue_full", job: name }, "mail job dropped: the queue is full");
      return;
    }
    pending++;
    queue = queue
      .then(job)
      .catch((error: unknown) => eventLog.error({ event: "mail_failed", job: name, reason: error instanceof Error ? error.message : String(error) }, "mail job failed"))
      .finally(() => void pending--);
  }

  /** The forgot route's job: unknown and disabled accounts get nothing, others a reset mail within the cap. */
  function forgotJob(email: string): void {
    enqueue("password_reset", async () => {
      const account = await accounts.findByEmail(email);
      if (!account || account.disabledAt) return;
      const hourAgo = new Date(clock.now() - 3_600_000);
      if ((await createPasswordResetTokensRepository(db).countIssuedSince(account.id, hourAgo)) >= RESET_MAILS_PER_ACCOUNT_HOUR) {
        eventLog.warn({ event: LogEvent.RATE_LIMIT_EXCEEDED, userId: account.id, limit: "reset_mails_per_account_hour" }, "reset mail not sent: too many for this account");
        return;
      }
      await sendPasswordResetMail(mailDeps, account);
    });
  }

  /** Sets the password and ends every session: refresh tokens revoked, access tokens cut off, reset links void. */
  async function replacePassword(tx: Queryable, userId: string, passwordHash: string, now: Date): Promise<void> {
    await createAccountsRepository(tx).updatePasswordHash(userId, passwordHash);
    await createPasswordResetTokensRepository(tx).voidOpenTokensOf(userId, now);
    await createRefreshTokensRepository(tx).revokeAllOf(userId, now);
    await createRevocationRepository(tx).revokeTokens(userId, now);
  }

  return {
    /**
     * The forgot route's work, all of it off the response path: the answer is the same 202 and takes the same time
     * whether the email has an account or not. Unknown and disabled accounts get nothing.
     */
    requestReset(email: string): void {
      if (delayed.size + pending >= MAX_PENDING_JOBS) {
        eventLog.warn({ event: "mail_queue_full", job: "password_reset" }, "mail job dropped: the queue is full");
        return;
      }
      const timer = setTimeout(() => {
        delayed.delete(timer);
        forgotJob(email);
      }, FORGOT_JOB_DELAY_MS);
      delayed.set(timer, email);
    },

    /** Sets a new password (already through the policy) with a reset token; the token works once. */
    async reset(token: string, password: string): Promise<ResetResult> {
      const tokenHash = sha256(token);
      const tokens = createPasswordResetTokensRepository(db);
      // Checked before hashing, so garbage tokens cannot make the server run argon2 for free.
      if (!(await tokens.findUsable(tokenHash, new Date(clock.now())))) return { ok: false, reason: "invalid_token" };
      const passwordHash = await hashPassword(password);
      const now = new Date(clock.now());
      const account = await db.transaction(async (tx) => {
        const userId = await createPasswordResetTokensRepository(tx).consume(tokenHash, now);
        const found = userId ? await createAccountsRepository(tx).findById(userId) : undefined;
        if (!found || found.disabledAt) return undefined;
        await replacePassword(tx, found.id, passwordHash, now);
        return found;
      });
      if (!account) return { ok: false, reason: "invalid_token" };
      await deps.cache.del(standingCacheKey(account.id)).catch(() => undefined);
      eventLog.info({ event: LogEvent.PASSWORD_RESET, userId: account.id, via: "reset_link" }, "password reset");
      enqueue("password_changed", () => sendPasswordChangedMail(deps.mailer, account.email, "reset"));
      return { ok: true };
    },

    /** Changes the password after the current one was checked through the password guard; every session ends. */
    async change(input: { userId: string; currentPassword: string; password: string; ip: string }): Promise<ChangeResult> {
      const account = await accounts.findById(input.userId);
      if (!account || account.disabledAt) return { ok: false, reason: "unknown_account" };
      const verdict = await deps.guard.guardPasswordCheck({ account: account.email, ip: input.ip, purpose: "password_change" }, async () => {
        const normalised = normalisePassword(input.currentPassword);
        if (normalised === undefined) return false;
        return (
          (await verifyPassword(account.passwordHash, normalised)) ||
          (normalised !== input.currentPassword && (await verifyPassword(account.passwordHash, input.currentPassword)))
        );
      });
      if (!verdict.ok) return verdict.reason === "rate_limited" ? verdict : { ok: false, reason: "wrong_password" };
      const passwordHash = await hashPassword(input.password);
      const now = new Date(clock.now());
      await db.transaction((tx) => replacePassword(tx, account.id, passwordHash, now));
      await deps.cache.del(standingCacheKey(account.id)).catch(() => undefined);
      eventLog.info({ event: LogEvent.PASSWORD_CHANGED, userId: account.id, ip: input.ip }, "password changed");
      enqueue("password_changed", () => sendPasswordChangedMail(deps.mailer, account.email, "change"));
      return { ok: true, userId: account.id, validAfterMs: now.getTime() };
    },

    /** Starts the delayed jobs now and resolves when every mail job so far has finished (shutdown). */
    idle(): Promise<void> {
      for (const [timer, email] of delayed) {
        clearTimeout(timer);
        forgotJob(email);
      }
      delayed.clear();
      return queue;
    },
  };
}

export type PasswordResetService = ReturnType<typeof createPasswordResetService>;
