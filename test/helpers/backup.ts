import { readdir } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import type { Db } from "../../src/platform/db/db.ts";
import { readTableStats } from "../../src/ops/backup/table-stats.repository.ts";
import type { TableStats } from "../../src/ops/backup/manifest.ts";
import { repoRoot, runCli } from "./cli.ts";
import type { TestPlatform } from "./platform.ts";

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
