import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedEmbeddedCluster } from "../../../test/helpers/embedded-template.ts";
import { loadIntoNewPgliteDir } from "./pglite-sql-script.ts";

describe("a plain SQL script run on the embedded default", () => {
  let dir = "";

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-sql-script-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads the statements after SET standard_conforming_strings = off with backslash escapes, as psql sends them", async () => {
    const script = join(dir, "escapes.sql");
    // Short statements, so they would share one batch: the server must get the later ones after the SET took effect.
    await writeFile(script, "SET standard_conforming_strings = off;\nCREATE TABLE public.t (v text);\nINSERT INTO public.t VALUES ('it\\'s; here');\n");
    await seedEmbeddedCluster(join(dir, "pg"));
    const { db } = await loadIntoNewPgliteDir(script, join(dir, "pg"));
    try {
      expect(await db.query<{ v: string }>("SELECT v FROM public.t")).toEqual([{ v: "it's; here" }]);
    } finally {
      await db.close();
    }
  }, 120_000);
});
