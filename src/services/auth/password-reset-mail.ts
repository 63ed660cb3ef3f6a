import { randomBytes } from "node:crypto";
import type { Clock } from "../../platform/clock.ts";
import type { Db } from "../../platform/db/db.ts";
import type { Mailer } from "../../platform/mailer.ts";
import { sha256 } from "../../platform/secrets.ts";
import { createPasswordResetTokensRepository } from "./password-reset-tokens.repository.ts";

/** What issuing and mailing a reset link needs: the database, the clock, the mail settings and a mailer. */
export interface PasswordResetMailDeps {
  db: Db;
  clock: Clock;
  mail: { publicBaseUrl: string; resetTtlMinutes: number };
  mailer: Mailer;
}

/**
 * The path of the reset page, under PUBLIC_BASE_URL. The token travels in the fragment (`#token=…`): browsers
 * never send a fragment to a server nor put it in a Referer, so it does not land in access logs or proxies.
 */
export const RESET_PAGE_PATH = "/reset-password";

/** A reset token: 256 random bits, base64url (43 characters). Only its SHA-256 is stored. */
export const RESET_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Issues a new single-use reset token for the user (voiding every earlier one) and mails the link to them.
 * Used by POST /api/auth/password/forgot and by `azora password-reset` (a forced reset). Rejects when the mail
 * cannot be sent; the new token is then stored but nobody holds it, and the earlier ones are void all the same.
 */
export async function sendPasswordResetMail(deps: PasswordResetMailDeps, user: { id: string; email: string }): Promise<void> {
  const token = randomBytes(32).toString("base64url");
  const now = deps.clock.now();
  await deps.db.transaction(async (tx) => {
    const tokens = createPasswordResetTokensRepository(tx);
    await tokens.voidOpenTokensOf(user.id, new Date(now));
    await tokens.insert({ userId: user.id, tokenHash: sha256(token), createdAt: new Date(now), expiresAt: new Date(now + deps.mail.resetTtlMinutes * 60_000) });
  });
  const link = `${deps.mail.publicBaseUrl}${RESET_PAGE_PATH}#token=${token}`;
  await deps.mailer.send({
    to: user.email,
    subject: "Reset your Azora OS password",
    text: [
      "Someone (we hope you) asked to reset the password of your Azora OS account.",
      "",
      `To choose a new password, open this link within ${deps.mail.resetTtlMinutes} minutes:`,
      "",
      link,
      "",
      "The link works once. Setting a new password signs you out everywhere.",
      "If you did not ask for this, ignore this mail: your password stays as it is.",
      "",
    ].join("\n"),
  });
}

/** Tells the account's owner that its password changed, so an owner who did not do it knows at once. */
export async function sendPasswordChangedMail(mailer: Mailer, email: string, how: "reset" | "change"): Promise<void> {
  await mailer.send({
    to: email,
    subject: "Your Azora OS password was changed",
    text: [
      how === "reset" ? "The password of your Azora OS account was reset through a reset link." : "The password of your Azora OS account was changed.",
      "Every session signed in before was ended.",
      "",
      "If this was not you, ask for a password reset at once and contact your administrator.",
      "",
    ].join("\n"),
  });
}
