import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";
import { eventually } from "./free-port.ts";

/** A mail as the SMTP server received it: the envelope recipients and the parsed message. */
export interface ReceivedMail {
  to: string[];
  subject: string;
  text: string;
}

/**
 * A real SMTP server on loopback (plain, no auth), collecting every mail it accepts. While `refusing` is set it
 * answers every recipient with a temporary failure whose text echoes the address, as real servers do. With
 * `hold`, the first that many mails get no answer until the test lets each through, as from a slow server.
 */
export async function startSmtpServer(options: { hold?: number } = {}) {
  const inbox: ReceivedMail[] = [];
  const state = { refusing: false, refused: 0 };
  const held: (() => void)[] = [];
  let holding = options.hold ?? 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (!state.refusing) return callback();
      state.refused++;
      callback(Object.assign(new Error(`<${address.address}>: mailbox temporarily unavailable`), { responseCode: 451 }));
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (mail: ParsedMail) => {
          const received = inbox.push({ to: session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase()), subject: mail.subject ?? "", text: mail.text ?? "" });
          if (received <= holding) held.push(() => callback());
          else callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  const releaseAll = () => {
    holding = 0;
    for (const release of held.splice(0)) release();
  };
  return {
    url: `smtp://127.0.0.1:${port}`,
    inbox,
    /** Refuse (451) every recipient from now on, or accept again. */
    refuse: (refusing: boolean) => void (state.refusing = refusing),
    refusedCount: () => state.refused,
    mailsTo: (address: string) => inbox.filter((mail) => mail.to.includes(address.toLowerCase())),
    /** The `n`-th mail (1-based) to `address`, waiting for it to arrive. */
    nthMailTo: (address: string, n: number) =>
      eventually(async () => inbox.filter((mail) => mail.to.includes(address.toLowerCase()))[n - 1], `mail ${n} to ${address}`, 15_000),
    /** How many mails wait for their answer (see `hold`). */
    heldCount: () => held.length,
    /** Answers the oldest held mail: accepted. */
    releaseOne: () => held.shift()?.(),
    /** Answers every held mail, and holds none from now on. */
    releaseAll,
    close: () => {
      // A held mail's connection would keep the server from closing.
      releaseAll();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type SmtpServer = Awaited<ReturnType<typeof startSmtpServer>>;

/** The reset token in a reset mail's link (`…/reset-password#token=…`). */
export function resetTokenIn(text: string): string {
  const match = /\/reset-password#token=([A-Za-z0-9_-]{43})\b/.exec(text);
  if (!match?.[1]) throw new Error(`no reset link in the mail: ${text.slice(0, 200)}`);
  return match[1];
}
