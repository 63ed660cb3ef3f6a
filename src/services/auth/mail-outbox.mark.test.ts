import { describe, expect, it } from "vitest";
import { startEmbeddedOutbox } from "../../../test/helpers/mail-outbox.ts";
import type { DeliveryOutcome } from "./mail-outbox.ts";

/**
 * The SMTP server accepted a mail, then writing its sent mark failed (the database refused the UPDATE): the mail
 * must not go out again. A trigger makes the real database refuse the mark until the test drops it.
 */
describe("mail outbox: a sent mail whose mark could not be written", () => {
  it("is not sent again; its mark is written once the database takes it", async () => {
    const outcomes: DeliveryOutcome[] = [];
    const { db, smtp, userId, clock, outbox, close } = await startEmbeddedOutbox("mark@example.com", (_kind, outcome) => void outcomes.push(outcome));
    try {
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
      await close();
    }
  }, 120_000);

  it("claimed again by the same process before its mark is written: marked, not sent", async () => {
    const { db, smtp, userId, clock, outbox, close } = await startEmbeddedOutbox("again@example.com");
    try {
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
      await close();
    }
  }, 120_000);
});
