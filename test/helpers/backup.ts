import { readdir } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import type { Db } from "../../src/platform/db/db.ts";
import { readTableStats } from "../../src/ops/backup/table-stats.repository.ts";
import type { TableStats } from "../../src/ops/backup/manifest.ts";
import type { Backend } from "./backends.ts";
import { repoRoot, runCli } from "./cli.ts";
import { startTestPlatform, type TestPlatform } from "./platform.ts";
import { startS3, type TestS3 } from "./s3.ts";

/** The environment a CLI in another process needs to reach the same installation as a test platform. */
export function cliEnv(platform: TestPlatform, extra: Record<string, string> = {}): Record<string, string> {
  const { config } = platform;
  const env: Record<string, string> = { DATA_DIR: platform.dataDir, ...extra };
  if (config.database.url) env.DATABASE_URL = config.database.url;
  if (config.redis.url) {
    env.REDIS_URL = config.redis.url;
    env.REDIS_KEY_PREFIX = config.redis.keyPrefix;
  }
  return env;
}

/** Runs one of the guide's wrapper scripts (backup/…, scripts/…) as a real process. */
export function runScript(script: string, args: string[], env: Record<string, string>) {
  return runCli(args, env, join(repoRoot, script));
}

/** Row counts and checksums of every table, computed the way manifests are. */
export function statsOf(db: Db): Promise<TableStats[]> {
  return db.transaction(readTableStats);
}

/**
 * Stats without the tables a restore itself writes to in the restored database: audit_log (its own row,
 * backup.restore) and cache_invalidations (the profiles it changed, so every serving process drops them:
 * ADR 0230).
 */
export function withoutRestoreWrites(stats: TableStats[]): TableStats[] {
  return stats.filter((table) => !/(^|\.)(audit_log|cache_invalidations)$/.test(table.name));
}

/** Backup directories in the store. */
export async function backupDirs(platform: TestPlatform): Promise<string[]> {
  return (await readdir(platform.config.paths.backups).catch(() => [] as string[])).filter((name) => !name.startsWith("."));
}

/** Drops the databases a PostgreSQL restore keeps beside the test database (the replaced ones, stray scratch copies). */
export async function dropRestoreLeftovers(platform: TestPlatform): Promise<string[]> {
  const url = platform.config.database.url;
  if (!url) return [];
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.href });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2", [`${name.slice(0, 36)}\\_%`, name]);
    for (const row of rows) await client.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`);
    return rows.map((row) => row.datname);
  } finally {
    await client.end();
  }
}

/** A test platform whose backups also go to a bucket of its own, and the environment its CLI runs with. */
export interface PlatformWithS3 {
  s3: TestS3;
  platform: TestPlatform;
  /** cliEnv of the platform, with the bucket's settings and the extra ones the platform got. */
  env: Record<string, string>;
  /** Drops what PostgreSQL restores left behind, then stops the platform and the bucket. */
  stop(): Promise<void>;
}

/** Starts an S3 server (s3rver) and a platform on `backend` pointed at its bucket, both with `extra` settings (BACKUP_*). */
export async function startPlatformWithS3(backend: Backend, extra: Record<string, string> = {}): Promise<PlatformWithS3> {
  const s3 = await startS3();
  let platform: TestPlatform;
  try {
    platform = await startTestPlatform(backend, { ...s3.env, ...extra });
  } catch (error) {
    await s3.stop();
    throw error;
  }
  return {
    s3,
    platform,
    env: cliEnv(platform, { ...s3.env, ...extra }),
    async stop() {
      await dropRestoreLeftovers(platform);
      await platform.stop();
      await s3.stop();
    },
  };
}
