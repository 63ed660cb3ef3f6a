import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogs } from "../logger.ts";
import { openDb } from "./open.ts";
import { QueryError } from "./query-error.ts";

const engines = [{ name: "pglite", url: undefined as string | undefined }];
if (process.env.DATABASE_URL) engines.push({ name: "postgres", url: process.env.DATABASE_URL });

for (const engine of engines) {
  describe(`a failed statement in the log (${engine.name})`, () => {
    const dirs: string[] = [];
    afterAll(async () => {
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    });

    it("carries the statement, the SQLSTATE and the object names, never the parameter values", async () => {
      const dir = await mkdtemp(join(tmpdir(), "azora-query-error-"));
      dirs.push(dir);
      const db = await openDb({ url: engine.url, poolMax: 1, pgliteDir: join(dir, "pg") });
      const table = `qe_${Date.now().toString(36)}`;
      const failures: unknown[] = [];
      try {
        await db.exec(`CREATE TABLE ${table} (id uuid PRIMARY KEY, note text NOT NULL UNIQUE)`);
        await db.query(`INSERT INTO ${table} (id, note) VALUES (gen_random_uuid(), $1)`, ["jane's private note"]);
        // A duplicate (whose detail line quotes the value) and a malformed value (whose message quotes it).
        for (const [sql, params] of [
          [`INSERT INTO ${table} (id, note) VALUES (gen_random_uuid(), $1)`, ["jane's private note"]],
          [`SELECT * FROM ${table} WHERE id = $1`, ["jane-not-a-uuid"]],
        ] as const) {
          await db.query(sql, [...params]).catch((error: unknown) => failures.push(error));
        }
      } finally {
        await db.exec(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
        await db.close();
      }
      expect(failures).toHaveLength(2);
      expect(failures.every((error) => error instanceof QueryError)).toBe(true);
      expect((failures[0] as QueryError).code).toBe("23505");
      expect((failures[1] as QueryError).code).toBe("22P02");

      const logs = createLogs({ dir, level: "info", stdout: false });
      for (const error of failures) logs.api.error({ err: error }, "request failed");
      logs.close();
      const text = await readFile(join(dir, "api.log"), "utf8");
      expect(text).toContain(`INSERT INTO ${table} (id, note) VALUES (gen_random_uuid(), $1)`);
      expect(text).toContain('"code":"23505"');
      expect(text).not.toContain("private note");
      expect(text).not.toContain("jane");
    }, 300_000);
  });
}
