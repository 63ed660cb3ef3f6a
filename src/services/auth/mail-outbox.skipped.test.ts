import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startEmbeddedOutbox } from "../../../test/helpers/mail-outbox.ts";
import { MAIL_RETRY_DELAYS_MS, type DeliveryOutcome } from "./mail-outbox.ts";
import type { OutboxKind } from "./mail-outbox.repository.ts";

/** What the outcome `skipped` of azora_mail_deliveries_total means, in the code and in docs/operations.md. */
describe("mail outbox: the skipped outcome", () => {
  it("a reset link to an account disabled since is closed unsent and never retried; a notice to it is still sent", async () => {
    const outcomes: [OutboxKind, DeliveryOutcome][] = [];
    const { db, accounts, userId, smtp, clock, outbox, close } = await startEmbeddedOutbox("skipped@example.com", (kind, outcome) => void outcomes.push([kind, outcome]));
    try {
      await outbox.add(db, userId, "reset_link");
      await outbox.add(db, userId, "change_notice");
      await accounts.setDisabled(userId, new Date(clock.now()));
      await outbox.deliver();
      // Past every retry delay: a skipped mail is not tried again.
      clock.advance(MAIL_RETRY_DELAYS_MS.reduce((sum, delay) => sum + delay, 0) + 60_000);
      await outbox.deliver();

      expect(outcomes).toEqual([
        ["reset_link", "skipped"],
        ["change_notice", "sent"],
      ]);
      expect(smtp.mailsTo("skipped@example.com")).toHaveLength(1);
      const rows = await db.query<{ kind: string; attempts: number; last_error: string | null; failed_at: Date | null }>(
        "SELECT kind, attempts, last_error, failed_at FROM mail_outbox WHERE kind = 'reset_link'",
      );
      expect(rows).toEqual([expect.objectContaining({ attempts: 1, last_error: "account_unavailable", failed_at: expect.any(Date) })]);
      expect(await outbox.hasPending(userId, "reset_link")).toBe(false);
    } finally {
      await close();
    }
  }, 120_000);

  it("docs/operations.md says what the code does: closed unsent, not retried, reset links of disabled accounts and erased accounts' mails, notices still sent", async () => {
    const operations = await readFile(join(import.meta.dirname, "../../../docs/operations.md"), "utf8");
    const row = operations.split("\n").find((line) => line.startsWith("| `azora_mail_deliveries_total`")) ?? "";
    const skipped = /`skipped` \(([^)]*(?:\([^)]*\)[^)]*)*)\)/.exec(row)?.[1] ?? "";
    expect(skipped).toMatch(/never tried again/);
    expect(skipped).toMatch(/account_unavailable/);
    expect(skipped).toMatch(/reset link whose account was disabled/);
    expect(skipped).toMatch(/erased/);
    expect(skipped).toMatch(/notice still goes to a disabled account/);
  });
});
