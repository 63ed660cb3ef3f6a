import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../platform/db/db.ts";
import { migrate, migrationsDir } from "../../platform/db/migrator.ts";
import { openPglite } from "../../platform/db/pglite.ts";
import { createGdprRepository } from "./gdpr.repository.ts";
import { buildInventory, loadAnnotations } from "./inventory.ts";

describe("the data inventory", () => {
  // One real database, migrated with the project's migrations; later tests add migrations of their own on top.
  let dir: string;
  let migrations: string;
  let db: Db;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-inventory-"));
    migrations = join(dir, "migrations");
    await cp(migrationsDir, migrations, { recursive: true });
    db = await openPglite(join(dir, "pg"));
    await migrate(db, migrations);
  });
  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function inventoryAfter(extra?: { name: string; sql: string }) {
    if (extra) {
      await writeFile(join(migrations, extra.name), extra.sql);
      await migrate(db, migrations);
    }
    return buildInventory(await loadAnnotations(), await createGdprRepository(db).schemaColumns());
  }

  it("annotates every column that the migrations create, and nothing else", async () => {
    const inventory = await inventoryAfter();
    const problems = [
      ...inventory.unannotated.map((column) => `${column}: no annotation in migrations/data-inventory.yaml (say which personal data it holds, or none)`),
      ...inventory.stale.map((column) => `${column}: annotated, but no migration creates it`),
      ...inventory.incomplete.map((table) => `${table}: holds personal data, so its annotation needs retention and lawfulBasis`),
    ];
    expect(problems).toEqual([]);
    expect(inventory.tables.find((table) => table.table === "users")?.personal.map((column) => column.column)).toContain("email");
  });

  it("fails when a migration adds a column without an annotation", async () => {
    const inventory = await inventoryAfter({ name: "29991231235958_add_phone.sql", sql: "ALTER TABLE users ADD COLUMN phone text;\n" });
    expect(inventory.unannotated).toEqual(["users.phone"]);
  });

  it("fails when a migration adds a table without annotations", async () => {
    const inventory = await inventoryAfter({ name: "29991231235959_newsletter.sql", sql: "CREATE TABLE newsletter (email text, sent_at timestamptz);\n" });
    expect(inventory.unannotated).toEqual(["newsletter.email", "newsletter.sent_at", "users.phone"]);
  });

  it("names a table holding personal data without retention or lawful basis", () => {
    const inventory = buildInventory({ notes: { owner: "x", purpose: "y", columns: { author_email: "contact" } } }, [{ table: "notes", column: "author_email" }]);
    expect(inventory.incomplete).toEqual(["notes"]);
  });
});
