import { z } from "zod";
import { reportProgress, type PlatformCommand } from "../../platform/command.ts";
import type { PlatformContext } from "../../platform/context.ts";
import { cliActor, recordAudit } from "../../platform/audit/audit.service.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { forgetStanding } from "../../platform/revocation/revocation.ts";
import { createRevocationRepository } from "../../platform/revocation/revocation.repository.ts";
import { createAccountsRepository } from "../../services/auth/accounts.repository.ts";
import { RESET_REQUIRED_HASH } from "../../services/auth/passwords.ts";
import { createRefreshTokensRepository } from "../../services/auth/refresh-tokens.repository.ts";
import { userCacheKey } from "../../services/users/users.service.ts";
import { resetMailSenderFor, type ResetMailRecipient, type ResetMailSender } from "./reset-mail.ts";

const email = z.string().trim().toLowerCase().pipe(z.email());
const args = z
  .object({
    all: z.boolean().default(false),
    /** The addresses given on the command line and read from --emails FILE (the CLI reads the file). */
    emails: z.array(email).max(1_000_000).default([]),
    dryRun: z.boolean().default(false),
    json: z.boolean().default(false),
  })
  .refine((value) => value.all !== value.emails.length > 0, "either --all or emails");
export type PasswordResetArgs = z.input<typeof args>;

const USAGE = "Usage: azora password-reset --all | --emails FILE | EMAIL… [--dry-run] [--json] (one of --all or addresses, not both)";
/** `j***@example.com`: output may be pasted into tickets. */
const masked = (address: string) => address.replace(/^(.)[^@]*(@.*)$/, "$1***$2");

/** Ends every session of one person, makes the password unusable, in one transaction; returns the sessions ended. */
async function forceReset(context: PlatformContext, userId: string, now: Date): Promise<number> {
  const ended = await context.db.transaction(async (tx) => {
    await createAccountsRepository(tx).updatePasswordHash(userId, RESET_REQUIRED_HASH);
    const sessions = await createRefreshTokensRepository(tx).revokeAllOf(userId, now);
    await createRevocationRepository(tx).revokeTokens(userId, now);
    return sessions;
  });
  // Caches after the commit, so no reader refills them from the old rows.
  await forgetStanding(context.cache, userId);
  await context.coherentCache.invalidate(userCacheKey(userId));
  return ended;
}

/** Who the arguments name; unknown addresses are returned apart so nothing is changed for a typo. */
async function targetsOf(context: PlatformContext, all: boolean, emails: string[]) {
  const accounts = createAccountsRepository(context.db);
  if (all) return { found: await accounts.listAll(), unknown: [] as string[] };
  const found: ResetMailRecipient[] = [];
  const unknown: string[] = [];
  for (const address of new Set(emails)) {
    const account = await accounts.findByEmail(address);
    if (account) found.push({ id: account.id, email: account.email });
    else unknown.push(address);
  }
  return { found, unknown };
}

/**
 * `azora password-reset --all | --emails FILE | EMAIL…`: for each person, sessions end (refresh tokens and live
 * access tokens), the password stops working, and a reset mail goes out through `sendResetMail`.
 */
export function createPasswordResetCommand(senderFor: (context: PlatformContext) => ResetMailSender): PlatformCommand<PasswordResetArgs> {
  return {
    name: "password-reset",
    async run(context, rawArgs, io) {
      const parsed = args.safeParse(rawArgs);
      if (!parsed.success) {
        io.err(USAGE);
        return 2;
      }
      const { all, emails, dryRun, json } = parsed.data;
      const { found, unknown } = await targetsOf(context, all, emails);
      if (unknown.length > 0) {
        io.err(`No account for ${unknown.length} address(es): ${unknown.map(masked).join(", ")}. Fix the list; nobody was reset.`);
        return 1;
      }
      const people = found.map((person) => ({ id: person.id, email: masked(person.email) }));
      if (dryRun) {
        if (json) io.out(JSON.stringify({ dryRun: true, count: people.length, users: people }));
        else {
          io.out(`Dry run: would force a password reset for ${people.length} account(s). Nothing was changed.`);
          for (const person of people) io.out(`  ${person.id}  ${person.email}`);
        }
        return 0;
      }
      const actor = io.actor ?? cliActor();
      const send = senderFor(context);
      const results: { id: string; email: string; sessionsEnded: number; mail: "sent" | "failed" }[] = [];
      for (const [index, person] of found.entries()) {
        const sessionsEnded = await forceReset(context, person.id, new Date(context.clock.now()));
        // A mail that fails leaves the account reset (sessions ended, password unusable): safe, and the person can ask for a new link.
        const mail = await send(person).then(
          () => "sent" as const,
          () => "failed" as const,
        );
        context.logs.security.warn({ event: LogEvent.PASSWORD_RESET_FORCED, userId: person.id, sessionsEnded, mail, actor }, "password reset forced");
        await recordAudit(context, { actor, action: "password.reset_forced", target: `user:${person.id}`, details: { sessionsEnded, delivery: mail, bulk: all ? "all" : "list" } });
        results.push({ id: person.id, email: masked(person.email), sessionsEnded, mail });
        reportProgress(io, { done: index + 1, total: found.length, label: "accounts reset" });
      }
      const failed = results.filter((result) => result.mail === "failed").length;
      if (json) io.out(JSON.stringify({ dryRun: false, count: results.length, mailFailures: failed, users: results }));
      else {
        io.out(`Forced a password reset for ${results.length} account(s): sessions ended, passwords unusable until reset.`);
        if (failed > 0) io.out(`${failed} reset mail(s) could not be sent; those people can use "forgot password". See security.log (PASSWORD_RESET_FORCED, mail "failed").`);
      }
      return failed > 0 ? 1 : 0;
    },
  };
}

export const passwordResetCommand = createPasswordResetCommand(resetMailSenderFor);
