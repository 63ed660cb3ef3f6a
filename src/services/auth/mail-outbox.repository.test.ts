import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isCi } from "../../platform/config.ts";
import { migrate } from "../../platform/db/migrator.ts";
import { openPostgres } from "../../platform/db/postgres.ts";
import { createScratchDatabase } from "../../../test/helpers/backends.ts";
import { createAccountsRepository } from "./accounts.repository.ts";
import { createMailOutboxRepository } from "./mail-outbox.repository.ts";

/**
 * Two replicas on one PostgreSQL claim the outbox at the same moment: each row is claimed by one of them only
 * (FOR UPDATE SKIP LOCKED), so no mail is sent twice. Needs a real PostgreSQL (DATABASE_URL); the embedded
 * database has one connection and one process, so there is nothing to race there. Under CI its absence is a failure.
 */
describe.runIf(process.env.DATABASE_URL || isCi())("mail outbox claims on PostgreSQL", () => {
  it("hands each due row to exactly one of two concurrent claimers", async () => {
    const adminUrl = process.env.DATABASE_URL;
    if (!adminUrl) throw new Error("CI=true but DATABASE_URL is not set: this test needs PostgreSQL.");
    const database = await createScratchDatabase(adminUrl, `azora_test_outbox_${randomBytes(5).toString("hex")}`);
    const replicaA = await openPostgres(database.url, 4);
    const replicaB = await openPostgres(database.url, 4);
    try {
      await migrate(replicaA);
      const userId = await createAccountsRepository(replicaA).insertIfAbsent({ email: "outbox@example.com", passwordHash: "x", name: null });
      if (!userId) throw new Error("no user");
      const at = new Date(Date.UTC(2026, 10, 29, 12));
      const rows = 200;
      for (let i = 0; i < rows; i++) await createMailOutboxRepository(replicaA).add(userId, "change_notice", at);
      const lease = new Date(at.getTime() + 60_000);
      const claimer = (db: typeof replicaA) => async () => {
        const ids: string[] = [];
        for (;;) {
          const batch = await createMailOutboxRepository(db).claimDue(at, lease, 7);
          if (batch.length === 0) return ids;
          ids.push(...batch.map((row) => row.id));
        }
      };
      // Several claimers per replica, each on its own pool connection, all at once.
      const claimed = (await Promise.all([...Array(4)].flatMap(() => [claimer(replicaA)(), claimer(replicaB)()]))).flat();
      expect(claimed.length).toBe(rows);
      expect(new Set(claimed).size).toBe(rows);
      const attempts = await replicaA.query<{ attempts: number }>("SELECT DISTINCT attempts FROM mail_outbox");
      expect(attempts).toEqual([{ attempts: 1 }]);
      // Within the lease nobody claims them again.
      expect(await createMailOutboxRepository(replicaB).claimDue(new Date(lease.getTime() - 1), new Date(lease.getTime() + 60_000), 50)).toEqual([]);
    } finally {
      await replicaA.close();
      await replicaB.close();
      await database.drop();
    }
  });
});
