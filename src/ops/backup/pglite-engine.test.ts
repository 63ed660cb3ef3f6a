import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedEmbeddedCluster } from "../../../test/helpers/embedded-template.ts";
import { openPglite, type EmbeddedDb } from "../../platform/db/pglite.ts";
import { copyStatsOf } from "./pglite-engine.ts";

describe("format 2 recount on the embedded default, a range of pages at a time", () => {
  let dir = "";
  let db: EmbeddedDb;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-recount-"));
    await seedEmbeddedCluster(join(dir, "pg"));
    db = await openPglite(join(dir, "pg"), { sync: "off" });
    await db.exec(`
      CREATE TABLE public.wide (id int PRIMARY KEY, note text, at timestamptz, raw bytea);
      INSERT INTO public.wide SELECT i, repeat(md5(i::text), 6) || E'\\ttab\\nline', '2026-11-29 12:00+01'::timestamptz + i * interval '1 minute', decode(md5(i::text), 'hex') FROM generate_series(1, 3000) i;
      DELETE FROM public.wide WHERE id % 7 = 0;
      CREATE TABLE public.empty (id int);
      CREATE TABLE public."Odd ""name""" (v text);
      INSERT INTO public."Odd ""name""" VALUES ('a'), (NULL);
    `);
  }, 120_000);
  afterAll(async () => {
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("gives the same row counts and checksums read two pages at a time as in one piece", async () => {
    const whole = await copyStatsOf(db, 1_000_000);
    const inPieces = await copyStatsOf(db, 2);
    expect(inPieces).toEqual(whole);
    const [pages] = await db.query<{ pages: string }>("SELECT pg_relation_size('public.wide') / 8192 AS pages");
    // The table spans many ranges, so a row lost or counted twice at a range's edge would show.
    expect(Number(pages?.pages)).toBeGreaterThan(20);
    expect(whole.map((table) => [table.name, table.rows]).sort()).toEqual([
      ["Odd \"name\"", 2],
      ["empty", 0],
      ["wide", 3000 - Math.floor(3000 / 7)],
    ]);
  });
});
