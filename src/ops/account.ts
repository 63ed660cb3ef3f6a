import { z } from "zod";
import type { PlatformCommand } from "../platform/command.ts";
import { cliActor, recordAudit } from "../platform/audit/audit.service.ts";
import { recordInvalidations } from "../platform/cache/invalidation-log.repository.ts";
import { LogEvent } from "../platform/log-events.ts";
import { forgetStanding } from "../platform/revocation/revocation.ts";
import { createRevocationRepository } from "../platform/revocation/revocation.repository.ts";
import { createAccountsRepository } from "../services/auth/accounts.repository.ts";
import { createRefreshTokensRepository } from "../services/auth/refresh-tokens.repository.ts";
import { userCacheKey } from "../services/users/users.service.ts";

const args = z.object({
  email: z.string().trim().toLowerCase().pipe(z.email()),
  action: z.enum(["disable", "enable"]),
  reason: z.string().trim().min(1).max(200).optional(),
  dryRun: z.boolean().default(false),
  json: z.boolean().default(false),
});
export type AccountArgs = z.input<typeof args>;

/**
 * Disables or enables the account and records the cached profile's invalidation in the same transaction:
 * the services replay that log into their own cache, so the change counts there even when this command
 * cannot reach their Redis (no REDIS_URL in the operator's shell, or Redis down).
 */
/** `*** @example.com`-style masking for output that may be pasted into tickets. */
const masked = (email: string) => email.replace(/^(.)[^@]*(@.*)$/, "$1***$2");

/**
 * `azora account disable EMAIL [--reason …]` / `azora account enable EMAIL`. Disabling refuses logins, ends
 * every session (refresh tokens), and makes the user's live access tokens fail at the gateway and the
 * services within 5 s (the "tokens valid after" cut-off). Enabling lets the person log in again; old tokens stay dead.
 */
export const accountCommand: PlatformCommand<AccountArgs> = {
  name: "account",
  async run(context, rawArgs, io) {
    const parsed = args.safeParse(rawArgs);
    if (!parsed.success) {
      io.err('Usage: azora account disable EMAIL [--reason "…"] [--dry-run] [--json] | azora account enable EMAIL [--dry-run] [--json]');
      return 2;
    }
    const { email, action, reason, dryRun, json } = parsed.data;
    const accounts = createAccountsRepository(context.db);
    const account = await accounts.findByEmail(email);
    if (!account) {
      io.err(`No account with the email ${email}. Check the address (azora looks it up in lower case); nothing was changed.`);
      return 1;
    }
    const wasDisabled = account.disabledAt !== null;
    const changed = action === "disable" ? !wasDisabled : wasDisabled;
    let sessionsEnded = 0;
    if (!dryRun) {
      const now = new Date(context.clock.now());
      // One transaction: the flag, the ended sessions and the cut-off land together or not at all, so a
      // failure half-way never leaves an account disabled with live sessions (or the other way round).
      sessionsEnded = await context.db.transaction(async (tx) => {
        const store = createAccountsRepository(tx);
        // The profile's cache key too, in the log of the same transaction: services whose Redis this
        // command cannot reach drop the cached profile all the same.
        await recordInvalidations(tx, [userCacheKey(account.id)]);
        if (action === "disable") {
          await store.setDisabled(account.id, account.disabledAt ?? now);
          // Even when already disabled: the operator asked for the account to be shut, so shut every door again.
          const ended = await createRefreshTokensRepository(tx).revokeAllOf(account.id, now);
          await createRevocationRepository(tx).revokeTokens(account.id, now);
          return ended;
        }
        if (changed) await store.setDisabled(account.id, null);
        return 0;
      });
      // Caches only after the commit: a reader must not refill them from the old rows.
      await forgetStanding(context.cache, account.id);
      await context.coherentCache.invalidate(userCacheKey(account.id));
      if (action === "disable") {
        context.logs.security.warn({ event: LogEvent.ACCOUNT_DISABLED, userId: account.id, reason, sessionsEnded, actor: io.actor ?? cliActor() }, "account disabled");
      } else if (changed) context.logs.security.info({ event: LogEvent.ACCOUNT_ENABLED, userId: account.id, actor: io.actor ?? cliActor() }, "account enabled");
      await recordAudit(context, {
        actor: io.actor ?? cliActor(),
        action: `account.${action}`,
        target: `user:${account.id}`,
        details: { changed, ...(reason ? { reason } : {}), ...(action === "disable" ? { sessionsEnded } : {}) },
      });
    }
    const result = { id: account.id, action, dryRun, changed, wasDisabled, sessionsEnded };
    if (json) io.out(JSON.stringify(result));
    else if (dryRun) io.out(`Dry run: would ${action} ${masked(email)}${changed ? "" : ` (already ${action}d)`}. Nothing was changed.`);
    else if (action === "disable") io.out(`${masked(email)} is disabled: logins refused, ${sessionsEnded} sessions ended, access tokens refused everywhere within 5 s.`);
    else io.out(changed ? `${masked(email)} is enabled again; the person logs in anew (earlier tokens stay revoked).` : `${masked(email)} was not disabled; nothing changed.`);
    return 0;
  },
};
