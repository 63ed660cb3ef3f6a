import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import { isCi } from "../../src/platform/config.ts";

/** Where a suite's platform keeps its data: the embedded default, or real PostgreSQL and Redis. */
export interface Backend {
  name: "embedded" | "postgres+redis";
  /** Environment for one isolated installation, and how to throw it away. */
  provision(): Promise<{ env: Record<string, string>; dispose(): Promise<void> }>;
}

/** The embedded default alone, for a suite whose platform only has to answer (the data behind it does not matter). */
export const embedded: Backend = {
  name: "embedded",
  provision: async () => ({ env: {}, dispose: async () => undefined }),
};

/** Runs one statement on its own connection (a test reading what a platform in another process wrote) and returns its rows. */
export async function queryOnce<Row extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A new empty database `name` on the PostgreSQL server of `adminUrl`, its URL, and how to drop it (cutting its connections). */
export async function createScratchDatabase(adminUrl: string, name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/**
 * Each suite gets its own database and its own Redis key prefix, so suites never see each other's data; `label`
 * names what made them (a benchmark's leftovers are told from a suite's).
 */
export function postgresAndRedis(databaseUrl: string, redisUrl: string, label = "test"): Backend {
  return {
    name: "postgres+redis",
    async provision() {
      const suffix = randomBytes(6).toString("hex");
      const database = await createScratchDatabase(databaseUrl, `azora_${label}_${suffix}`);
      const keyPrefix = `azora-${label}-${suffix}:`;
      return {
        env: { DATABASE_URL: database.url, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: keyPrefix },
        async dispose() {
          await database.drop();
          const redis = new Redis(redisUrl);
          // SCAN, not KEYS: KEYS blocks the shared Redis for the whole key space while other suites run.
          for await (const keys of redis.scanStream({ match: `${keyPrefix}*`, count: 1000 }) as AsyncIterable<string[]>) {
            if (keys.length > 0) await redis.unlink(...keys);
          }
          await redis.quit();
        },
      };
    },
  };
}

/** The backends this run covers: always the embedded one; PostgreSQL + Redis when DATABASE_URL and REDIS_URL are set. */
export function backends(): Backend[] {
  const { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl } = process.env;
  if (databaseUrl && redisUrl) return [embedded, postgresAndRedis(databaseUrl, redisUrl)];
  if (isCi()) {
    // Under CI a missing service is a failure, never a silent skip.
    throw new Error("CI=true but DATABASE_URL and REDIS_URL are not both set: the PostgreSQL + Redis run cannot happen.");
  }
  return [embedded];
}
