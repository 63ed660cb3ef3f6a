import type { Cache } from "../../platform/cache/cache.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Db, Queryable } from "../../platform/db/db.ts";
import { LogEvent } from "../../platform/log-events.ts";
import type { Logger } from "../../platform/logger.ts";
import { createRevocationRepository } from "../../platform/revocation/revocation.repository.ts";
import { standingCacheKey } from "../../platform/revocation/revocation.ts";
import { sha256 } from "../../platform/secrets.ts";
import { createAccountsRepository, type AccountsRepository } from "./accounts.repository.ts";
import type { PasswordGuard } from "./password-guard.ts";
import { normalisePassword } from "./password-policy.ts";
import { mailErrorClass, type MailOutbox } from "./mail-outbox.ts";
import { createPasswordResetTokensRepository } from "./password-reset-tokens.repository.ts";
import { hashPassword, verifyPassword } from "./passwords.ts";
import { createRefreshTokensRepository } from "./refresh-tokens.repository.ts";

/**
 * Reset mails one account can be sent per hour through the forgot route; more requests are answered alike and dropped.
 * A mail counts once however many delivery attempts it takes (docs/adr/0300).
 */
export const RESET_MAILS_PER_ACCOUNT_HOUR = 5;
/** Forgot jobs waiting at most (before their mail is in the outbox); beyond, requests are dropped (and logged). */
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
  /** The durable outbox every mail goes through (sent at once, retried on failure, kept across restarts). */
  outbox: MailOutbox;
  /** auth.log (PASSWORD_RESET, PASSWORD_CHANGED) */
  eventLog: Logger;
}

export type ResetResult = { ok: true } | { ok: false; reason: "invalid_token" };
export type ChangeResult = { ok: true; userId: string; validAfterMs: number } | { ok: false; reason: "unknown_account" | "wrong_password" } | { ok: false; reason: "rate_limited"; retryAfterSeconds: number };

/**
 * Forgot, reset and change of passwords. Mail goes out off the response path: a forgot request's lookup runs in
 * a job after the answer, one at a time; every mail is then a row of the outbox (docs/adr/0240).
 */
export function createPasswordResetService(deps: PasswordResetServiceDeps) {
  const { db, clock, accounts, eventLog, outbox } = deps;
  let queue: Promise<void> = Promise.resolve();
  let pending = 0;
  /** Forgot jobs waiting for their delay, by timer. */
  const delayed = new Map<ReturnType<typeof setTimeout>, string>();

  /** Runs `job` after the jobs before it; its failure is logged (its class only, never an email), never thrown at a caller. */
  function enqueue(name: string, job: () => Promise<void>): void {
    if (pending >= MAX_PENDING_JOBS) {
      eventLog.warn({ event: LogEvent.MAIL_QUEUE_FULL, job: name }, "mail job dropped: the queue is full");
      return;
    }
    pending++;
    queue = queue
      .then(job)
      .catch((error: unknown) => eventLog.error({ event: LogEvent.MAIL_FAILED, job: name, error: mailErrorClass(error) }, "mail job failed"))
      .finally(() => void pending--);
  }

  /** The forgot route's job: unknown and disabled accounts get nothing, others a reset mail within the cap. */
  function forgotJob(email: string): void {
    enqueue("password_reset", async () => {
      const account = await accounts.findByEmail(email);
      if (!account || account.disabledAt) return;
      const hourAgo = new Date(clock.now() - 3_600_000);
      // The cap counts the user's requests (outbox rows), not tokens: each delivery attempt issues a fresh token,
      // so counting tokens let an SMTP outage's retries use up the hour and drop the user's own next requests.
      if ((await outbox.countAddedSince(account.id, "reset_link", hourAgo)) >= RESET_MAILS_PER_ACCOUNT_HOUR) {
        eventLog.warn({ event: LogEvent.RATE_LIMIT_EXCEEDED, userId: account.id, limit: "reset_mails_per_account_hour" }, "reset mail not sent: too many for this account");
        return;
      }
      // A link still waiting (the SMTP server is down) is sent with a fresh token when it goes: one is enough.
      if (!(await outbox.hasPending(account.id, "reset_link"))) await outbox.add(db, account.id, "reset_link");
      void outbox.deliver();
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

    /**
     * Sets a new password (already through the policy) with a reset token; the token works once. The account's
     * login back-off is forgotten: the owner proved control of the mailbox, and strangers' guesses must not lock them out.
     */
    async reset(token: string, password: string, ip: string): Promise<ResetResult> {
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
        await outbox.add(tx, found.id, "reset_notice");
        return found;
      });
      if (!account) return { ok: false, reason: "invalid_token" };
      await deps.cache.del(standingCacheKey(account.id)).catch(() => undefined);
      // The password is set already: a limiter store that fails here must not turn the reset into an error.
      await deps.guard.forgetFailures(account.email, ip).catch(() => eventLog.warn({ event: "backoff_not_cleared", userId: account.id }, "login back-off not cleared after a reset"));
      eventLog.info({ event: LogEvent.PASSWORD_RESET, userId: account.id, via: "reset_link" }, "password reset");
      void outbox.deliver();
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
      await db.transaction(async (tx) => {
        await replacePassword(tx, account.id, passwordHash, now);
        await outbox.add(tx, account.id, "change_notice");
      });
      await deps.cache.del(standingCacheKey(account.id)).catch(() => undefined);
      eventLog.info({ event: LogEvent.PASSWORD_CHANGED, userId: account.id, ip: input.ip }, "password changed");
      void outbox.deliver();
      return { ok: true, userId: account.id, validAfterMs: now.getTime() };
    },

    /** Starts the delayed jobs now and resolves when every job so far has put its mail in the outbox (shutdown). */
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
