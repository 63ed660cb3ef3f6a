import { closeSync, openSync, writeSync } from "node:fs";
import { mkdtemp, readdir, rename, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { extendsWithZeros } from "./pglite-durability.ts";
import { openPglite } from "./pglite.ts";

/** DB_SYNC=always with the WAL fsync off the event loop (ADR 0420): what an answer may tell, and when. */
describe("embedded database, DB_SYNC=always", () => {
  let dir: string | undefined;
  afterEach(async () => dir && rm(dir, { recursive: true, force: true }));

  it("an error that saw a commit (a unique violation) is not handed over before that commit's WAL is on disk", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-durable-"));
    const db = await openPglite(join(dir, "pg"));
    await db.exec("CREATE TABLE t (id int PRIMARY KEY)");
    const settled: string[] = [];
    // The second insert runs while the first one's WAL fsync is still on the thread pool; its refusal names
    // the first one's row, so it must not be answered (a 409, say) before that row is durable.
    const first = db.query("INSERT INTO t VALUES (1)").then(() => settled.push("committed"));
    const second = db.query("INSERT INTO t VALUES (1)").catch((error: Error) => settled.push(`refused: ${error.message}`));
    await Promise.all([first, second]);
    expect(settled).toEqual(["committed", expect.stringMatching(/^refused: .*duplicate key/)]);
    await db.close();
  });

  it("after a failed WAL fsync no statement is answered again, even once a later fsync of the file succeeds", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-durable-"));
    const pgDir = join(dir, "pg");
    const db = await openPglite(pgDir);
    await db.exec("CREATE TABLE t (id int)");
    await db.query("INSERT INTO t VALUES (1)");
    // postgres writes the current segment through the descriptor it holds; the fsync opens it by name. A name
    // that loops (ELOOP) makes that fsync fail, as an EIO would, without touching what postgres writes.
    const segment = await newestWalSegment(join(pgDir, "pg_wal"));
    await rename(segment, `${segment}.held`);
    await symlink(segment, segment);
    await expect(db.query("INSERT INTO t VALUES (2)")).rejects.toThrow(/could not be synced to disk \(ELOOP\); restart the process/);
    // The name works again: a retried fsync now succeeds, as Linux reports a write-back error only once.
    await rm(segment);
    await rename(`${segment}.held`, segment);
    await expect(db.query("INSERT INTO t VALUES (3)")).rejects.toThrow(/restart the process/);
    // A checkpoint syncs the pending WAL on the event loop before writing data; that must not clear the failure.
    await expect(db.query("CHECKPOINT")).rejects.toThrow(/restart the process/);
    await expect(db.query("SELECT count(*) FROM t")).rejects.toThrow(/restart the process/);
    await expect(db.query("INSERT INTO t VALUES (4)")).rejects.toThrow(/restart the process/);
    await db.close().catch(() => undefined);
  });

  it("a relation's file is emptied (TRUNCATE, DROP) only once the WAL of the commit that empties it is on disk", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-durable-"));
    const pgDir = join(dir, "pg");
    const db = await openPglite(pgDir);
    await db.exec("CREATE TABLE t (id int)");
    await db.query("INSERT INTO t SELECT generate_series(1, 1000)");
    await db.query("CHECKPOINT");
    const [{ path } = { path: "" }] = await db.query<{ path: string }>("SELECT pg_relation_filepath('t') AS path");
    const file = join(pgDir, path);
    const rowsOnDisk = (await stat(file)).size;
    expect(rowsOnDisk).toBeGreaterThan(0);
    // The WAL cannot be synced (see above): TRUNCATE's commit record never reaches the disk, so the old file,
    // which a crash now would bring back as the table's, must keep its rows.
    const segment = await newestWalSegment(join(pgDir, "pg_wal"));
    await rename(segment, `${segment}.held`);
    await symlink(segment, segment);
    await expect(db.query("TRUNCATE t")).rejects.toThrow();
    expect((await stat(file)).size).toBe(rowsOnDisk);
    await rm(segment);
    await rename(`${segment}.held`, segment);
    await db.close().catch(() => undefined);
  });
});

/** The one data write that may go ahead of the WAL: an empty page appended to a relation (ADR 0550). */
describe("extendsWithZeros", () => {
  let dir: string | undefined;
  afterEach(async () => dir && rm(dir, { recursive: true, force: true }));

  it("is true only for all-zero bytes written at or past the end of the file", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-extend-"));
    const fd = openSync(join(dir, "relation"), "w+");
    try {
      writeSync(fd, Buffer.alloc(8192, 1), 0, 8192, 0);
      const zeros = new Uint8Array(8192);
      const page = new Uint8Array(8192);
      page[100] = 7;
      expect(extendsWithZeros(fd, zeros, 0, 8192, 8192)).toBe(true);
      expect(extendsWithZeros(fd, zeros, 0, 8192, 16384)).toBe(true);
      // Overwriting a page that holds data, even with zeros, changes data: the WAL goes first.
      expect(extendsWithZeros(fd, zeros, 0, 8192, 0)).toBe(false);
      expect(extendsWithZeros(fd, zeros, 0, 8192, 4096)).toBe(false);
      // A page with content appended: postgres wrote a change into it, whose WAL must be on disk first.
      expect(extendsWithZeros(fd, page, 0, 8192, 8192)).toBe(false);
      // Only the bytes written count, not the rest of the buffer.
      expect(extendsWithZeros(fd, page, 200, 1000, 8192)).toBe(true);
      expect(extendsWithZeros(fd, page, 0, 1000, 8192)).toBe(false);
      // As the runtime calls it: the whole WASM heap, the page at its address (an offset beyond the length).
      const heap = new Int8Array(65536);
      heap[40000 + 100] = 7;
      expect(extendsWithZeros(fd, heap, 40000, 8192, 8192)).toBe(false);
      expect(extendsWithZeros(fd, heap, 48192, 8192, 8192)).toBe(true);
    } finally {
      closeSync(fd);
    }
  });
});

async function newestWalSegment(walDir: string): Promise<string> {
  const names = (await readdir(walDir)).filter((name) => /^[0-9A-F]{24}$/.test(name));
  const dated = await Promise.all(names.map(async (name) => ({ path: join(walDir, name), mtime: (await stat(join(walDir, name))).mtimeMs })));
  const newest = dated.sort((a, b) => b.mtime - a.mtime)[0];
  if (!newest) throw new Error(`no WAL segment in ${walDir}`);
  return newest.path;
}
