// The mail outbox on its own, without a platform: as the auth service builds it, on a real database and a
// real SMTP server on loopback, for the outbox's unit suites beside its code.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { Clock } from "../../src/platform/clock.ts";
import type { Db } from "../../src/platform/db/db.ts";
import { migrate } from "../../src/platform/db/migrator.ts";
import { openPglite, type EmbeddedDb } from "../../src/platform/db/pglite.ts";
import { openMailer } from "../../src/platform/mailer.ts";
import { createAccountsRepository, type AccountsRepository } from "../../src/services/auth/accounts.repository.ts";
import { createMailOutbox, type MailOutbox, type MailOutboxDeps } from "../../src/services/auth/mail-outbox.ts";
import { manualClock } from "./security.ts";
import { startSmtpServer, type SmtpServer } from "./smtp.ts";

/** An outbox on `db` that sends through the SMTP server at `smtpUrl`, silent, on the given clock. */
export function testOutbox(db: Db, smtpUrl: string, clock: Clock, onDelivery?: MailOutboxDeps["onDelivery"]): MailOutbox {
  return createMailOutbox({
    db,
    clock,
    accounts: createAccountsRepository(db),
    // With an SMTP URL the mailer writes no files: its mail directory is never used.
    mailer: openMailer({ smtpUrl, from: "azora@example.com", dir: "/nonexistent" }),
    mail: { publicBaseUrl: "https://accounts.azora.test", resetTtlMinutes: 60 },
    eventLog: pino({ level: "silent" }),
    ...(onDelivery ? { onDelivery } : {}),
  });
}

/** An embedded database with the schema and one account, an SMTP server, and the outbox between them. */
export interface EmbeddedOutbox {
  db: EmbeddedDb;
  accounts: AccountsRepository;
  userId: string;
  smtp: SmtpServer;
  clock: ReturnType<typeof manualClock>;
  outbox: MailOutbox;
  /** Closes the database and the SMTP server, and removes the database's files. */
  close(): Promise<void>;
}

/** Starts an EmbeddedOutbox whose one account has `email`; `onDelivery` hears each attempt's outcome. */
export async function startEmbeddedOutbox(email: string, onDelivery?: MailOutboxDeps["onDelivery"]): Promise<EmbeddedOutbox> {
  const dir = await mkdtemp(join(tmpdir(), "azora-outbox-"));
  const smtp = await startSmtpServer();
  const db = await openPglite(dir);
  const close = async () => {
    await db.close();
    await smtp.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await migrate(db);
    const accounts = createAccountsRepository(db);
    const userId = await accounts.insertIfAbsent({ email, passwordHash: "x", name: null });
    if (!userId) throw new Error("no user");
    const clock = manualClock();
    return { db, accounts, userId, smtp, clock, outbox: testOutbox(db, smtp.url, clock, onDelivery), close };
  } catch (error) {
    await close();
    throw error;
  }
}
