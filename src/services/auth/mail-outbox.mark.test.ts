import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { migrate } from "../../platform/db/migrator.ts";
import { openPglite } from "../../platform/db/pglite.ts";
import { openMailer } from "../../platform/mailer.ts";
import { manualClock } from "../../../test/helpers/security.ts";
import { startSmtpServer } from "../../../test/helpers/smtp.ts";
import { createAccountsRepository } from "./accounts.repository.ts";
import { createMailOutbox, type DeliveryOutcome } from "./mail-outbox.ts";

/**
 * The SMTP server accepted a mail, then writing its sent mark failed (the database refused the UPDATE): the mail
 * must not go out again. A trigger makes the real database refuse the mark until the test drops it.
 */
describe("mail outbox: a sent mail whose mark could not be written", () => {
  it("is not sent again; its mark is written once the database takes it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "azora-outbox-mark-"));
    const smtp = await startSmtpServer();
    const db = await openPglite(dir);
    try {
      await migrate(db);
      const userId = await createAccountsRepository(db).insertIfAbsent({ email: "mark@example.com", passwordHash: "x", name: null });
      if (!userId) throw new Error("no user");
      const clock = manualClock();
      const outcomes: DeliveryOutcome[] = [];
      const outbox = createMailOutbox({
        db,
        clock,
        accounts: createAccountsRepository(db),
        mailer: openMailer({ smtpUrl: smtp.url, from: "azora@example.com", dir }),
        mail: { publicBaseUrl: "https://accounts.azora.test", resetTtlMinutes: 60 },
        eventLog: pino({ level: "silent" }),
        onDelivery: (_kind, outcome) => void outcomes.push(outcome),
      });
      await db.exec(`
        CREATE FUNCTION refuse_sent_mark() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.sent_at IS NOT NULL THEN RAISE EXCEPTION 'sent mark refused'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_sent_mark BEFORE UPDATE ON mail_outbox FOR EACH ROW EXECUTE FUNCTION refuse_sent_mark();
      `);
      await outbox.add(db, userId, "change_notice");
      await outbox.deliver();
      expect(smtp.mailsTo("mark@example.com")).toHaveLength(1);

      // The database takes writes again; every retry delay and the claim's lease have passed.
      await db.exec("DROP TRIGGER refuse_sent_mark ON mail_outbox");
      clock.advance(2 * 60 * 60_000);
      await outbox.deliver();
      await outbox.deliver();

      expect(smtp.mailsTo("mark@example.com")).toHaveLength(1);
      expect(outcomes).toEqual(["sent"]);
      const [row] = await db.query<{ sent_at: Date | null; attempts: number; last_error: string | null }>("SELECT sent_at, attempts, last_error FROM mail_outbox");
      expect(row?.sent_at).not.toBeNull();
      expect(row?.last_error).toBeNull();
    } finally {
      await db.close();
      await smtp.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("claimed again by the same process before its mark is written: marked, not sent", async () => {
    const dir = await mkdtemp(join(tmpdir(), "azora-outbox-mark-"));
    const smtp = await startSmtpServer();
    const db = await openPglite(dir);
    try {
      await migrate(db);
      const userId = await createAccountsRepository(db).insertIfAbsent({ email: "again@example.com", passwordHash: "x", name: null });
      if (!userId) throw new Error("no user");
      const clock = manualClock();
      const outbox = createMailOutbox({
        db,
        clock,
        accounts: createAccountsRepository(db),
        mailer: openMailer({ smtpUrl: smtp.url, from: "azora@example.com", dir }),
        mail: { publicBaseUrl: "https://accounts.azora.test", resetTtlMinutes: 60 },
        eventLog: pino({ level: "silent" }),
      });
      // Refuses the mark while the row counts one attempt: it succeeds once a second claim has counted another.
      await db.exec(`
        CREATE FUNCTION refuse_sent_mark() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.sent_at IS NOT NULL AND OLD.attempts = 1 THEN RAISE EXCEPTION 'sent mark refused'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_sent_mark BEFORE UPDATE ON mail_outbox FOR EACH ROW EXECUTE FUNCTION refuse_sent_mark();
      `);
      await outbox.add(db, userId, "change_notice");
      await outbox.deliver();
      // The lease runs out; the next run's owed mark still fails (attempts = 1), and the row is due again: this
      // process claims it (attempts = 2) and must mark it instead of sending it.
      clock.advance(61_000);
      await outbox.deliver();
      await outbox.deliver();
      expect(smtp.mailsTo("again@example.com")).toHaveLength(1);
      const [row] = await db.query<{ sent_at: Date | null }>("SELECT sent_at FROM mail_outbox");
      expect(row?.sent_at).not.toBeNull();
    } finally {
      await db.close();
      await smtp.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
