import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../clock.ts";
import { migrate } from "../db/migrator.ts";
import { openPglite, type EmbeddedDb } from "../db/pglite.ts";
import { createCoherentCache } from "./coherent-cache.ts";
import { createInvalidationLogRepository, recordInvalidations } from "./invalidation-log.repository.ts";
import { createMemoryCache } from "./memory.ts";

// A reader that missed and read the database before a write committed must not put the old value back
// after the write's delete: that entry would be served as a HIT for a whole TTL.
describe("the coherent cache", () => {
  let dir: string;
  let db: EmbeddedDb;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-coherent-"));
    db = await openPglite(join(dir, "pg"));
    await migrate(db);
  }, 120_000);
  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const open = async () => {
    const coherent = createCoherentCache({ cache: createMemoryCache(), log: createInvalidationLogRepository(db), clock: systemClock });
    await coherent.sync();
    return coherent;
  };
  const missTicket = async (coherent: Awaited<ReturnType<typeof open>>, key: string) => {
    const read = await coherent.read(key);
    if (read.outcome !== "miss") throw new Error(`expected a miss, got ${read.outcome}`);
    return read.ticket;
  };

  it("stores after a miss and serves the value as a hit", async () => {
    const coherent = await open();
    await coherent.store("user:1", "fresh", 60, await missTicket(coherent, "user:1"));
    expect(await coherent.read("user:1")).toEqual({ outcome: "hit", value: "fresh" });
  });

  it("refuses a store whose key another process's write invalidated after the lookup (seen through the log)", async () => {
    const coherent = await open();
    const ticket = await missTicket(coherent, "user:2");
    // Another process commits a write (and its log row) while this reader holds the old value.
    await db.transaction((tx) => recordInvalidations(tx, ["user:2"]));
    await coherent.sync();
    await coherent.store("user:2", "old", 60, ticket);
    expect((await coherent.read("user:2")).outcome).toBe("miss");
  });

  it("refuses a store whose key this process invalidated after the lookup", async () => {
    const coherent = await open();
    const ticket = await missTicket(coherent, "user:3");
    await coherent.invalidate("user:3");
    await coherent.store("user:3", "old", 60, ticket);
    expect((await coherent.read("user:3")).outcome).toBe("miss");
  });

  it("still stores a key whose invalidation came before the lookup, and other keys after one", async () => {
    const coherent = await open();
    await coherent.invalidate("user:4");
    const ticket = await missTicket(coherent, "user:4");
    const otherTicket = await missTicket(coherent, "user:5");
    await coherent.invalidate("user:6");
    await coherent.store("user:4", "fresh", 60, ticket);
    await coherent.store("user:5", "fresh", 60, otherTicket);
    expect((await coherent.read("user:4")).outcome).toBe("hit");
    expect((await coherent.read("user:5")).outcome).toBe("hit");
  });

  it("drops the related keys of a replayed one (the key an earlier version used for the same data)", async () => {
    const cache = createMemoryCache();
    const coherent = createCoherentCache({ cache, log: createInvalidationLogRepository(db), clock: systemClock, relatedKeys: (key) => (key === "old:7" ? ["user:7"] : []) });
    await coherent.sync();
    await coherent.store("user:7", "fresh", 60, await missTicket(coherent, "user:7"));
    await db.transaction((tx) => recordInvalidations(tx, ["old:7"]));
    await coherent.sync();
    expect((await coherent.read("user:7")).outcome).toBe("miss");
  });
});
