import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { PlatformContext } from "../../platform/context.ts";
import { recoverInterruptedRestore } from "./restore-maintenance.ts";

/** The embedded default's paths; no restore marker, so the database is never read. */
function embeddedContext(dataDir: string): PlatformContext {
  const quiet = { warn: () => undefined, info: () => undefined, error: () => undefined };
  const config = { database: { url: undefined }, paths: { pg: join(dataDir, "pg"), state: join(dataDir, "state"), backups: join(dataDir, "backups") } };
  return { config, logs: { api: quiet } } as unknown as PlatformContext;
}

describe("recovering at start from an interrupted backup, restore or drill (embedded default)", () => {
  let dataDir = "";
  afterEach(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function leftovers(): Promise<void> {
    const backups = join(dataDir, "backups");
    // A restore killed while it loaded: the dump it had decrypted, in clear.
    await mkdir(join(backups, ".work-0a1b2c3d"), { recursive: true });
    await writeFile(join(backups, ".work-0a1b2c3d", "dump.sql"), "COPY users (email) FROM stdin;\nperson@example.com\n");
    // A full backup killed while pg_dump wrote, and a download from the bucket cut off.
    await mkdir(join(backups, ".partial-20261129T020000Z-full-a1b2c3"));
    await mkdir(join(backups, ".fetch-20261128T020000Z-full-d4e5f6"));
    // What is a backup, or belongs to one, stays.
    await mkdir(join(backups, "20261128T020000Z-full-0f0f0f"));
    await mkdir(join(backups, "content"));
    await writeFile(join(backups, ".drills.json"), "[]");
  }

  it("removes the working directories they left in DATA_DIR/backups, and nothing else", async () => {
    dataDir = await mkdtemp(join(tmpdir(), "azora-recover-"));
    await leftovers();
    await recoverInterruptedRestore(embeddedContext(dataDir), { atStart: true });
    expect((await readdir(join(dataDir, "backups"))).sort()).toEqual([".drills.json", "20261128T020000Z-full-0f0f0f", "content"]);
  });

  it("leaves them alone before a restore (a backup or drill of the same process may be using them)", async () => {
    dataDir = await mkdtemp(join(tmpdir(), "azora-recover-"));
    await leftovers();
    await recoverInterruptedRestore(embeddedContext(dataDir), { atStart: false });
    expect(await readdir(join(dataDir, "backups"))).toHaveLength(6);
  });
});
