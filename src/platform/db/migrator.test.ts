import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { migrate, migrationsDir } from "./migrator.ts";
import { openPglite } from "./pglite.ts";

describe("migrate", () => {
  let dir: string | undefined;
  afterEach(async () => dir && rm(dir, { recursive: true, force: true }));

  it("applies the project's migrations once, in order", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-migrate-"));
    const db = await openPglite(join(dir, "pg"));
    const first = await migrate(db);
    expect(first.applied.length).toBeGreaterThanOrEqual(3);
    expect([...first.applied].sort()).toEqual(first.applied);
    const second = await migrate(db);
    expect(second).toEqual({ applied: [], alreadyApplied: first.applied.length });
    const tables = await db.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    expect(tables.map((row) => row.tablename)).toEqual(expect.arrayContaining(["users", "refresh_tokens", "signing_keys", "content", "schema_migrations"]));
    await db.close();
  });

  it("rolls a failing migration back whole and does not record it", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-migrate-"));
    const migrations = join(dir, "migrations");
    await mkdir(migrations);
    await writeFile(join(migrations, "20260101000000_good.sql"), "CREATE TABLE a (id int);\n");
    await writeFile(join(migrations, "20260102000000_bad.sql"), "CREATE TABLE b (id int);\nSELECT * FROM nowhere;\n");
    const db = await openPglite(join(dir, "pg"));
    await expect(migrate(db, migrations)).rejects.toThrow(/nowhere/);
    const versions = await db.query<{ version: string }>("SELECT version FROM schema_migrations");
    expect(versions.map((row) => row.version)).toEqual(["20260101000000_good"]);
    expect(await db.query("SELECT to_regclass('b') AS b")).toEqual([{ b: null }]);
    await db.close();
    expect(migrationsDir).toMatch(/migrations\/$/);
  });
});
