import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../src/platform/db/db.ts";
import { migrate } from "../src/platform/db/migrator.ts";
import { openDb } from "../src/platform/db/open.ts";
import { backends } from "./helpers/backends.ts";
import { makeDataDir } from "./helpers/platform.ts";

/** The database refuses what the API refuses, so a bug in one layer cannot store it. */
describe.each(backends())("length limits in the schema on $name", (backend) => {
  let db: Db;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    const dir = await makeDataDir();
    const provisioned = await backend.provision();
    cleanups.push(() => rm(dir, { recursive: true, force: true }), provisioned.dispose);
    db = await openDb({ url: provisioned.env.DATABASE_URL, poolMax: 2, pgliteDir: join(dir, "pg") });
    await migrate(db);
  }, 600_000);
  afterAll(async () => {
    await db?.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const insertUser = (email: string, name: string | null = null) =>
    db.query<{ id: string }>("INSERT INTO users (email, password_hash, name) VALUES ($1, 'x', $2) RETURNING id", [email, name]);
  const violation = (promise: Promise<unknown>) => expect(promise).rejects.toMatchObject({ code: "23514" });
  const email = (length: number) => `${"a".repeat(length - "@example.com".length - 8)}${randomUUID().slice(0, 8)}@example.com`;

  it("keeps emails to 254 characters and names to 1–100", async () => {
    await insertUser(email(254), "n".repeat(100));
    await violation(insertUser(email(255)));
    await violation(insertUser(email(40), "n".repeat(101)));
    await violation(insertUser(email(40), ""));
    // 100 characters outside the BMP are 200 UTF-16 code units: the database counts characters.
    await insertUser(email(40), "😀".repeat(100));
  });

  it("keeps content titles to 1–200 characters and bodies to 100,000", async () => {
    const [owner] = await insertUser(email(40));
    const insert = (title: string, body: string) => db.query("INSERT INTO content (owner_id, title, body) VALUES ($1, $2, $3)", [owner?.id, title, body]);
    await insert("t".repeat(200), "b".repeat(100_000));
    await violation(insert("t".repeat(201), ""));
    await violation(insert("", ""));
    await violation(insert("title", "b".repeat(100_001)));
  });
});
