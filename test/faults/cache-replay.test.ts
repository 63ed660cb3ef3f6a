import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoherentCache } from "../../src/platform/cache/coherent-cache.ts";
import { createInvalidationLogRepository, recordInvalidations } from "../../src/platform/cache/invalidation-log.repository.ts";
import { createMemoryCache } from "../../src/platform/cache/memory.ts";
import { systemClock } from "../../src/platform/clock.ts";
import { isCi } from "../../src/platform/config.ts";
import type { Db } from "../../src/platform/db/db.ts";
import { migrate } from "../../src/platform/db/migrator.ts";
import { openPglite } from "../../src/platform/db/pglite.ts";
import { openPostgres } from "../../src/platform/db/postgres.ts";
import { createRedisCache } from "../../src/platform/cache/redis.ts";
import type { Cache } from "../../src/platform/cache/cache.ts";
import { eventually } from "../helpers/free-port.ts";
import { startOwnRedis, type OwnRedis } from "../helpers/own-redis.ts";
import { toolAvailability } from "../helpers/tools.ts";
import { postgresBinDir, startOwnPostgres, type OwnPostgres } from "../helpers/stoppable-postgres.ts";

// The invalidation log's replay must read every committed row exactly once, whatever the delay between a
// row's insert and its transaction's commit and whatever the wall clock does: a row it skips leaves a
// stale entry (one a failed delete left in Redis) to be served for a whole TTL (issue 13, point 2).
const binDir = postgresBinDir();
if (binDir === undefined && isCi()) throw new Error("initdb/pg_ctl are missing under CI: .ci/run must apt-get install postgresql");
const SLOW = 300_000;
const redisServer = toolAvailability("redis-server", "redis-server");

interface Engine {
  name: string;
  open(): Promise<{ db: Db; url?: string; dispose(): Promise<void> }>;
}
const engines: Engine[] = [
  {
    name: "embedded",
    async open() {
      const dir = await mkdtemp(join(tmpdir(), "azora-replay-"));
      const db = await openPglite(join(dir, "pg"));
      return { db, dispose: async () => (await db.close(), await rm(dir, { recursive: true, force: true })) };
    },
  },
];
if (binDir !== undefined) {
  engines.push({
    name: "PostgreSQL",
    async open() {
      const cluster: OwnPostgres = await startOwnPostgres(binDir);
      const db = await openPostgres(cluster.url, 4);
      return { db, url: cluster.url, dispose: async () => (await db.close(), await cluster.dispose()) };
    },
  });
}

describe.each(engines)("the invalidation log replay on the $name database", (engine) => {
  let opened: Awaited<ReturnType<Engine["open"]>>;
  beforeAll(async () => {
    opened = await engine.open();
    await migrate(opened.db);
  }, SLOW);
  afterAll(async () => opened?.dispose(), SLOW);

  /** A process's cache holding `key` = "stale", as a delete that failed while Redis was down left it. */
  const cacheHoldingStale = async (key: string) => {
    const coherent = createCoherentCache({ cache: createMemoryCache(), log: createInvalidationLogRepository(opened.db), clock: systemClock });
    await coherent.sync();
    const read = await coherent.read(key);
    if (read.outcome !== "miss") throw new Error(`expected a miss, got ${read.outcome}`);
    await coherent.store(key, "stale", 3600, read.ticket);
    expect(await coherent.read(key)).toEqual({ outcome: "hit", value: "stale" });
    return coherent;
  };

  it("replays a row dated before rows it already replayed (the database clock stepped back)", async () => {
    const coherent = await cacheHoldingStale("user:clock");
    await opened.db.transaction((tx) => recordInvalidations(tx, ["user:clock-other"]));
    await coherent.sync();
    // A clock corrected backwards (NTP) dates the next commit's row a minute before the rows just replayed.
    await opened.db.query("INSERT INTO cache_invalidations (cache_key, created_at) VALUES ('user:clock', now() - interval '1 minute')");
    await coherent.sync();
    expect((await coherent.read("user:clock")).outcome).toBe("miss");
  }, SLOW);

  if (engine.name === "embedded") {
    // One connection: a replay cannot run while a transaction is open, so no row can commit behind it.
    it("runs a replay only once an open transaction has committed, and replays its rows", async () => {
      const coherent = await cacheHoldingStale("user:late");
      let commit = () => undefined as void;
      const held = new Promise<void>((resolve) => (commit = resolve));
      let inserted = () => undefined as void;
      const insertedSignal = new Promise<void>((resolve) => (inserted = resolve));
      const writer = opened.db.transaction(async (tx) => {
        await recordInvalidations(tx, ["user:late"]);
        inserted();
        await held;
      });
      await insertedSignal;
      let replayed = false;
      const replay = coherent.sync().then(() => (replayed = true));
      // Give the replay every chance to run beside the transaction; it must not.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(replayed).toBe(false);
      commit();
      await writer;
      await replay;
      expect((await coherent.read("user:late")).outcome).toBe("miss");
    }, SLOW);
  } else {
    it("replays a transaction that commits long after it inserted its row, after later rows were replayed", async () => {
      const coherent = await cacheHoldingStale("user:late");
      const client = new pg.Client({ connectionString: opened.url });
      await client.connect();
      try {
        // A write records its invalidation, then its transaction stays open (a slow statement, a lock wait).
        await client.query("BEGIN");
        await client.query("INSERT INTO cache_invalidations (cache_key) VALUES ('user:late')");
        await eventually(
          async () => ((await client.query<{ old: boolean }>("SELECT clock_timestamp() - created_at > interval '5 seconds' AS old FROM cache_invalidations WHERE cache_key = 'user:late'")).rows[0]?.old ? true : undefined),
          "the open transaction's row to be five seconds old",
          60_000,
        );
        // Meanwhile other writes commit and are replayed: the replay moves past the open one's insert time.
        await opened.db.transaction((tx) => recordInvalidations(tx, ["user:later"]));
        await coherent.sync();
        expect((await coherent.read("user:late")).outcome).toBe("hit");
        await client.query("COMMIT");
      } finally {
        await client.end();
      }
      await coherent.sync();
      expect((await coherent.read("user:late")).outcome).toBe("miss");
    }, SLOW);
  }

  it.runIf(redisServer.run)("a replica that sent nothing while Redis restarted does not trust it again before a replay", async () => {
    const redis: OwnRedis = await startOwnRedis();
    const clients: Cache[] = [];
    const client = async () => {
      const cache = await createRedisCache({ url: redis.url, keyPrefix: "replica:" });
      clients.push(cache);
      return cache;
    };
    try {
      // Time stands still for replica B: its last replay stays current, whatever the machine's load.
      const still = { now: () => 1_000_000 };
      const log = createInvalidationLogRepository(opened.db);
      const a = createCoherentCache({ cache: await client(), log, clock: systemClock });
      const bCache = await client();
      const b = createCoherentCache({ cache: bCache, log, clock: still });
      await a.sync();
      await b.sync();
      const read = await b.read("user:replica");
      if (read.outcome !== "miss") throw new Error(`expected a miss, got ${read.outcome}`);
      await b.store("user:replica", "stale", 3600, read.ticket);

      // Redis stops; replica A commits a write, and its delete fails. Redis comes back with its append-only file.
      await redis.stop();
      await opened.db.transaction((tx) => recordInvalidations(tx, ["user:replica"]));
      await a.invalidate("user:replica");
      await redis.start();
      await eventually(async () => ((await bCache.ping().then(() => true, () => false)) ? true : undefined), "replica B reconnected", 60_000);

      // B sent no command during the outage, yet its connection was lost: no entry until B has replayed.
      expect((await b.read("user:replica")).outcome).toBe("bypass");
      expect(await b.sync()).toBe(true);
      expect((await b.read("user:replica")).outcome).toBe("miss");
    } finally {
      for (const cache of clients) await cache.close();
      await redis.dispose();
    }
  }, SLOW);

  it.runIf(redisServer.run)("a Redis that comes back with older data than the deletes it acknowledged is not trusted before the whole window is replayed", async () => {
    const redis: OwnRedis = await startOwnRedis();
    const cache = await createRedisCache({ url: redis.url, keyPrefix: "rollback:" });
    const saved = await mkdtemp(join(tmpdir(), "azora-redis-saved-"));
    const reconnected = () => eventually(async () => ((await cache.ping().then(() => true, () => false)) ? true : undefined), "the client reconnected", 60_000);
    try {
      // Time stands still: the last replay stays current, whatever the machine's load.
      const coherent = createCoherentCache({ cache, log: createInvalidationLogRepository(opened.db), clock: { now: () => 1_000_000 } });
      await coherent.sync();
      const read = await coherent.read("user:rollback");
      if (read.outcome !== "miss") throw new Error(`expected a miss, got ${read.outcome}`);
      await coherent.store("user:rollback", "old", 3600, read.ticket);

      // A copy of Redis' data while it holds the old profile (what a crash before its append-only file was
      // synced, a failover to a lagging replica, or a restored backup bring back).
      await redis.stop();
      await cp(redis.dir, saved, { recursive: true });
      await redis.start();
      await reconnected();
      expect(await coherent.sync()).toBe(true);
      expect(await coherent.read("user:rollback")).toEqual({ outcome: "hit", value: "old" });

      // A write commits; its delete and the next replay go through.
      await opened.db.transaction((tx) => recordInvalidations(tx, ["user:rollback"]));
      await coherent.invalidate("user:rollback");
      expect(await coherent.sync()).toBe(true);
      expect((await coherent.read("user:rollback")).outcome).toBe("miss");

      // Redis comes back without that acknowledged delete.
      await redis.stop();
      await rm(redis.dir, { recursive: true, force: true });
      await cp(saved, redis.dir, { recursive: true });
      await redis.start();
      await reconnected();
      expect(await coherent.sync()).toBe(true);
      expect((await coherent.read("user:rollback")).outcome).toBe("miss");
    } finally {
      await cache.close();
      await redis.dispose();
      await rm(saved, { recursive: true, force: true });
    }
  }, SLOW);

  it("replays each committed row once, and everything again when the database is another one", async () => {
    const log = createInvalidationLogRepository(opened.db);
    const first = await log.since(undefined);
    await opened.db.transaction((tx) => recordInvalidations(tx, ["user:once"]));
    const second = await log.since(first.snapshot);
    expect(second.keys).toEqual(["user:once"]);
    expect((await log.since(second.snapshot)).keys).toEqual([]);
    // A snapshot from a database whose transaction ids ran further (the one a restore replaced): the whole window.
    const foreign = "5000000000:5000000000:";
    expect((await log.since(foreign)).keys).toContain("user:once");
  }, SLOW);
});
