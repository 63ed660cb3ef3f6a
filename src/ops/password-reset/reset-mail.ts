import type { PlatformContext } from "../../platform/context.ts";
import { openMailer } from "../../platform/mailer.ts";
import { sendPasswordResetMail } from "../../services/auth/password-reset-mail.ts";

/** Whom a forced-reset mail goes to. */
export interface ResetMailRecipient {
  id: string;
  email: string;
}

/** Sends one person the mail that lets them choose a new password (a single-use reset link). */
export type ResetMailSender = (user: ResetMailRecipient) => Promise<void>;

/**
 * The reset mail of the forgot-password route (a new single-use link, earlier ones voided), through the
 * platform's mailer: SMTP when SMTP_URL is set, `.eml` files in DATA_DIR/mail otherwise. A mailer per mail:
 * the command may run inside `azora up` (through the ops port), where nothing must stay open after it.
 */
export function resetMailSenderFor(context: PlatformContext): ResetMailSender {
  const { config, db, clock } = context;
  return async (user) => {
    const mailer = openMailer(config.mail);
    try {
      await sendPasswordResetMail({ db, clock, mail: config.mail, mailer }, user);
    } finally {
      mailer.close();
    }
  };
}
