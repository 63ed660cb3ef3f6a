import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Db, Queryable } from "./db.ts";

export const migrationsDir = fileURLToPath(new URL("../../../migrations/", import.meta.url));

/** Any fixed number: every migrator on the same database waits on this lock. */
const MIGRATION_LOCK = 727_101;

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
}

/** An applied migration whose file is no longer what was applied: the schema and the code disagree. */
export class MigrationChangedError extends Error {
  constructor(readonly changed: string[]) {
    super(
      `Applied migration${changed.length === 1 ? "" : "s"} changed since ${changed.length === 1 ? "it was" : "they were"} applied: ${changed.join(", ")}. ` +
        "An applied migration must never be edited: restore the file as it was (e.g. git checkout migrations/) and put the change in a new migration.",
    );
  }
}

interface MigrationFile {
  version: string;
  sql: string;
  checksum: string;
}

/** Applies the timestamped SQL files not yet applied, in order, each in its own transaction; refuses if an applied one changed. */
export async function migrate(db: Db, dir = migrationsDir): Promise<MigrationReport> {
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  // Added later: rows applied before it existed get the checksum of the file as it is now.
  await db.exec("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text");
  const files = await readMigrations(dir);
  await recordMissingChecksums(db, files);
  await verifyMigrations(db, dir, files);
  const applied: string[] = [];
  for (const file of files) {
    const didApply = await db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      const done = await tx.query("SELECT 1 FROM schema_migrations WHERE version = $1", [file.version]);
      if (done.length > 0) return false;
      for (const statement of splitStatements(file.sql)) await tx.query(statement);
      await tx.query("INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", [file.version, file.checksum]);
      return true;
    });
    if (didApply) applied.push(file.version);
  }
  return { applied, alreadyApplied: files.length - applied.length };
}

/**
 * Throws MigrationChangedError when a migration the database has applied differs from its file. A database
 * that has no migrations table yet has nothing to compare (the caller reports the missing schema).
 */
export async function verifyMigrations(db: Queryable, dir = migrationsDir, known?: MigrationFile[]): Promise<void> {
  const [table] = await db.query<{ present: boolean }>(
    "SELECT to_regclass('schema_migrations') IS NOT NULL AND EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'schema_migrations' AND column_name = 'checksum') AS present",
  );
  if (!table?.present) return;
  const files = known ?? (await readMigrations(dir));
  const recorded = await db.query<{ version: string; checksum: string | null }>("SELECT version, checksum FROM schema_migrations");
  const byVersion = new Map(files.map((file) => [file.version, file.checksum]));
  const changed = recorded
    .filter((row) => row.checksum !== null && byVersion.has(row.version) && byVersion.get(row.version) !== row.checksum)
    .map((row) => row.version)
    .sort();
  if (changed.length > 0) throw new MigrationChangedError(changed);
}

async function recordMissingChecksums(db: Queryable, files: MigrationFile[]): Promise<void> {
  for (const file of files) {
    await db.query("UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL", [file.version, file.checksum]);
  }
}

async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((name) => /^\d{14}_[a-z0-9_]+\.sql$/.test(name)).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name), "utf8");
      return { version: name.replace(/\.sql$/, ""), sql, checksum: createHash("sha256").update(sql).digest("hex") };
    }),
  );
}

/** Splits a migration on semicolons at line ends; migrations keep one statement per `;`-terminated block. */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((statement) => statement.replace(/^\s*--.*$/gm, "").trim())
    .filter(Boolean);
}
