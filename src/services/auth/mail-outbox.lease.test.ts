import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isCi } from "../../platform/config.ts";
import { migrate } from "../../platform/db/migrator.ts";
import { openPostgres } from "../../platform/db/postgres.ts";
import { createScratchDatabase } from "../../../test/helpers/backends.ts";
import { testOutbox } from "../../../test/helpers/mail-outbox.ts";
import { manualClock } from "../../../test/helpers/security.ts";
import { eventually } from "../../../test/helpers/free-port.ts";
import { startSmtpServer } from "../../../test/helpers/smtp.ts";
import { createAccountsRepository } from "./accounts.repository.ts";

/**
 * Two auth replicas on one PostgreSQL and a slow SMTP server: a replica must never still be holding a mail whose
 * lease has run out (the other one then claims and sends it too). Each send is well within the lease; it is a
 * batch of them one after another that is not. Needs PostgreSQL (DATABASE_URL); under CI its absence is a failure.
 */
describe.runIf(process.env.DATABASE_URL || isCi())("mail outbox leases on PostgreSQL", () => {
  it("a slow batch does not outlive its leases: no mail is sent twice by two replicas", async () => {
    // The first two mails are held until the test lets them through, as a slow SMTP server would.
    const smtp = await startSmtpServer({ hold: 2 });
    const received = smtp.inbox;

    const adminUrl = process.env.DATABASE_URL;
    if (!adminUrl) throw new Error("CI=true but DATABASE_URL is not set: this test needs PostgreSQL.");
    const database = await createScratchDatabase(adminUrl, `azora_test_lease_${randomBytes(5).toString("hex")}`);
    const dbA = await openPostgres(database.url, 4);
    const dbB = await openPostgres(database.url, 4);
    const clock = manualClock();
    const replica = (db: typeof dbA) => testOutbox(db, smtp.url, clock);
    try {
      await migrate(dbA);
      const userId = await createAccountsRepository(dbA).insertIfAbsent({ email: "lease@example.com", passwordHash: "x", name: null });
      if (!userId) throw new Error("no user");
      const a = replica(dbA);
      const b = replica(dbB);
      for (let i = 0; i < 3; i++) await a.add(dbA, userId, "change_notice");

      const runA = a.deliver();
      // A's first mail takes 40 s (on the clock), its second 30 s more: A is then 70 s into its run.
      await eventually(async () => smtp.heldCount() === 1 || undefined, "the first mail at the server");
      clock.advance(40_000);
      smtp.releaseOne();
      await eventually(async () => smtp.heldCount() === 1 || undefined, "the second mail at the server");
      clock.advance(30_000);
      // Meanwhile B looks for due mails: it may take only what A no longer holds.
      await b.deliver();
      smtp.releaseOne();
      await runA;

      expect(received).toHaveLength(3);
      const attempts = await dbA.query<{ attempts: number }>("SELECT attempts FROM mail_outbox ORDER BY created_at");
      expect(attempts.map((row) => row.attempts)).toEqual([1, 1, 1]);
    } finally {
      smtp.releaseAll();
      await dbA.close();
      await dbB.close();
      await database.drop();
      await smtp.close();
    }
  });
});
