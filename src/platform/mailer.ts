import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createTransport } from "nodemailer";

/** One mail the platform sends: plain text (links in it are the only way a reset token leaves the server). */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** "smtp" (SMTP_URL) or "files" (.eml files in DATA_DIR/mail). */
  readonly kind: "smtp" | "files";
  /** Sends, or writes, the mail; rejects when the SMTP server refuses it or cannot be reached in time. */
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

export interface MailerConfig {
  smtpUrl: string | undefined;
  from: string;
  /** DATA_DIR/mail: where mails go when there is no SMTP server. */
  dir: string;
}

/** Every outgoing call has a deadline: an SMTP server that hangs fails the send instead of holding it. */
const SMTP_TIMEOUTS = { connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 10_000 };

/**
 * The mailer of the configuration: SMTP when SMTP_URL is set, otherwise `.eml` files (RFC 5322, readable by
 * any mail client) in DATA_DIR/mail, created 0600 because a reset mail holds a live link.
 */
export function openMailer(config: MailerConfig): Mailer {
  if (config.smtpUrl) {
    const transport = createTransport({ url: config.smtpUrl, ...SMTP_TIMEOUTS }, { from: config.from });
    return {
      kind: "smtp",
      async send(mail) {
        await transport.sendMail(mail);
      },
      close: () => transport.close(),
    };
  }
  const composer = createTransport({ streamTransport: true, buffer: true, newline: "unix" }, { from: config.from });
  return {
    kind: "files",
    async send(mail) {
      const composed = await composer.sendMail(mail);
      await mkdir(config.dir, { recursive: true, mode: 0o700 });
      // Sortable by time, unique without coordination between processes.
      const name = `${new Date().toISOString().replace(/[:.]/g, "-")}-${randomBytes(4).toString("hex")}.eml`;
      await writeFile(join(config.dir, name), composed.message as Buffer, { mode: 0o600, flag: "wx" });
    },
    close: () => composer.close(),
  };
}
