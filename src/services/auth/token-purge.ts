import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { LogEvent } from "../../platform/log-events.ts";
import type { ScheduledJob } from "../../platform/scheduler.ts";
import type { MailOutboxRepository } from "./mail-outbox.repository.ts";
import type { PasswordResetTokensRepository } from "./password-reset-tokens.repository.ts";
import type { RefreshTokensRepository } from "./refresh-tokens.repository.ts";

/**
 * Revoked tokens are kept this long after revocation: a revoked token that comes back is still
 * recognised as reuse (TOKEN_REUSED in auth.log) for a week, which is what an investigation needs.
 */
export const REVOKED_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** Password reset tokens are kept a day past expiry (to tell "expired" from "never issued" in an investigation). */
export const RESET_TOKEN_RETENTION_MS = 24 * 3600 * 1000;
/** Outbox rows are kept a week after they were sent or given up (what an investigation of "I never got the mail" needs). */
export const OUTBOX_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** Deleted per statement, so a large backlog never holds one long transaction. */
const BATCH = 1_000;

export interface TokenPurgeDeps {
  refreshTokens: RefreshTokensRepository;
  /** Also purged, a day after they expired. */
  resetTokens?: PasswordResetTokensRepository;
  /** Also purged, a week after they were sent or given up. */
  mailOutbox?: MailOutboxRepository;
  clock: Clock;
  logger: Logger;
  /** Counts purged tokens (azora_refresh_tokens_purged_total). */
  purged: { inc(amount: number): void };
  intervalMs: number;
}

/** The scheduled purge of refresh tokens that can never be used again: expired, or revoked a week ago. */
export function tokenPurgeJob(deps: TokenPurgeDeps): ScheduledJob {
  return {
    name: "refresh-token-purge",
    intervalMs: deps.intervalMs,
    async run() {
      const now = deps.clock.now();
      let total = 0;
      for (;;) {
        const deleted = await deps.refreshTokens.purge(new Date(now), new Date(now - REVOKED_RETENTION_MS), BATCH);
        total += deleted;
        if (deleted > 0) deps.purged.inc(deleted);
        if (deleted < BATCH) break;
      }
      if (total > 0) deps.logger.info({ event: LogEvent.REFRESH_TOKENS_PURGED, count: total }, "expired and revoked refresh tokens purged");
      if (deps.resetTokens) {
        let resetTotal = 0;
        for (;;) {
          const deleted = await deps.resetTokens.purge(new Date(now - RESET_TOKEN_RETENTION_MS), BATCH);
          resetTotal += deleted;
          if (deleted < BATCH) break;
        }
        if (resetTotal > 0) deps.logger.info({ event: LogEvent.REFRESH_TOKENS_PURGED, kind: "password_reset", count: resetTotal }, "expired password reset tokens purged");
      }
      if (deps.mailOutbox) {
        while ((await deps.mailOutbox.purge(new Date(now - OUTBOX_RETENTION_MS), BATCH)) === BATCH);
      }
    },
  };
}
