import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDb } from "../src/platform/db/open.ts";
import { MigrationChangedError, migrate, verifyMigrations } from "../src/platform/db/migrator.ts";
import { backends } from "./helpers/backends.ts";
import { runCli } from "./helpers/cli.ts";
import { makeDataDir } from "./helpers/platform.ts";

/** Migration checksums: a migration edited after it was applied stops start-up, on both backends. */
describe.each(backends())("migrations on $name", { timeout: 300_000 }, (backend) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const setup = async () => {
    const dir = await makeDataDir();
    const provisioned = await backend.provision();
    cleanups.push(() => rm(dir, { recursive: true, force: true }), provisioned.dispose);
    const db = await openDb({ url: provisioned.env.DATABASE_URL, poolMax: 2, pgliteDir: join(dir, "pg") });
    cleanups.push(() => db.close().catch(() => undefined));
    return { dir, db, env: { ...provisioned.env, DATA_DIR: dir } };
  };

  it("keeps a checksum of each file and refuses when an applied one changed", async () => {
    const { dir, db } = await setup();
    const migrations = join(dir, "migrations");
    await mkdir(migrations);
    await writeFile(join(migrations, "20260101000000_first.sql"), "CREATE TABLE first (id int);\n");
    expect(await migrate(db, migrations)).toEqual({ applied: ["20260101000000_first"], alreadyApplied: 0 });
    const [row] = await db.query<{ checksum: string }>("SELECT checksum FROM schema_migrations WHERE version = '20260101000000_first'");
    expect(row?.checksum).toMatch(/^[0-9a-f]{64}$/);

    await writeFile(join(migrations, "20260101000000_first.sql"), "CREATE TABLE first (id bigint);\n");
    await writeFile(join(migrations, "20260102000000_second.sql"), "CREATE TABLE second (id int);\n");
    await expect(migrate(db, migrations)).rejects.toBeInstanceOf(MigrationChangedError);
    await expect(verifyMigrations(db, migrations)).rejects.toThrow(/20260101000000_first.*must never be edited/);
    // Nothing after the refusal was applied.
    expect(await db.query("SELECT to_regclass('second') AS second")).toEqual([{ second: null }]);
  });

  it("records the checksum of migrations applied before checksums existed", async () => {
    const { dir, db } = await setup();
    const migrations = join(dir, "migrations");
    await mkdir(migrations);
    await writeFile(join(migrations, "20260101000000_first.sql"), "CREATE TABLE first (id int);\n");
    await db.exec("CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    await db.exec("CREATE TABLE first (id int)");
    await db.query("INSERT INTO schema_migrations (version) VALUES ('20260101000000_first')");
    expect(await migrate(db, migrations)).toEqual({ applied: [], alreadyApplied: 1 });
    const [row] = await db.query<{ checksum: string | null }>("SELECT checksum FROM schema_migrations");
    expect(row?.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it("azora up refuses to start, with a message, when an applied migration's file changed", async () => {
    const { db, env } = await setup();
    await migrate(db);
    await db.query("UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = '20261127000300_users_content'");
    await db.close();
    const result = await runCli(["up"], { ...env, HOST: "127.0.0.1", PORT: "0", OPS_PORT: "0" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Applied migration changed since it was applied: 20261127000300_users_content");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
