import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PlatformContext } from "../../platform/context.ts";
import type { BlobStore } from "../../platform/blobs/blob-store.ts";
import { createLocalBlobStore } from "../../platform/blobs/local.ts";
import { stageBlob } from "../../platform/blobs/staging.ts";
import type { Db } from "../../platform/db/db.ts";
import { migrate } from "../../platform/db/migrator.ts";
import { openPglite } from "../../platform/db/pglite.ts";
import { listContentBackups, openContentPool, takeContentBackup } from "./content-backup.ts";
import { withContentLock } from "./content-lock.ts";
import { adoptInterruptedErasures, applyPendingErasures, forgetInContentBackups } from "./content-erasure.ts";
import { ownerTag, processIdentityOf } from "../../platform/process-identity.ts";

const silent = { out: () => undefined, err: () => undefined };

async function putBlob(store: BlobStore, text: string): Promise<string> {
  const staged = await stageBlob(Readable.from([Buffer.from(text)]), store.stagingDir);
  await store.put(staged.key, staged.path);
  return staged.key;
}

describe("erasure and a running content backup", () => {
  let dir = "";
  let db: Db;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-erasure-"));
    db = await openPglite(join(dir, "pg"), { sync: "off" });
    await migrate(db);
  });
  afterAll(async () => {
    await db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("an erasure that lands while content backups run is never lost from the pending list", async () => {
    const live = createLocalBlobStore(join(dir, "blobs"));
    // Each backup an hour after the one before: retention (one per hour for 1000 hours) expires none, so every
    // manifest stays and a key a lost erasure left in one is seen.
    let hour = Date.UTC(2026, 0, 1);
    const clock = { now: () => (hour += 3_600_000) };
    const config = { paths: { backups: join(dir, "backups"), blobs: join(dir, "blobs"), pg: join(dir, "pg") }, database: {}, s3: undefined, backup: { keepDaily: 1000, keepHourly: 1000, bucket: { keepDaily: 1000, keepHourly: 1000 } } };
    const context = { config, db, blobs: live, clock } as unknown as PlatformContext;

    const keys: string[] = [];
    for (let index = 0; index < 150; index++) keys.push(await putBlob(live, `file ${index} of a person erased during the backups`));
    await takeContentBackup(context, silent);

    // Erasures land one after another (as DELETE /api/user/me calls do) while content backups keep running:
    // each removes the live file, then reaches the content backups, leaving its keys pending when a backup holds the lock.
    let erasing = true;
    const erasures = (async () => {
      try {
        await Promise.all(
          keys.map(async (key, index) => {
            await new Promise((resolve) => setTimeout(resolve, index % 25));
            await live.delete(key);
            await forgetInContentBackups(context, [key], { retries: 0 });
          }),
        );
      } finally {
        erasing = false;
      }
    })();
    while (erasing) await takeContentBackup(context, silent);
    await erasures;

    // Whatever is still pending is applied now, as the next backup or prune would: after that nothing of theirs may remain.
    await withContentLock(context, () => applyPendingErasures(context));
    const named = new Set((await listContentBackups(context)).flatMap((manifest) => manifest.blobs.map((blob) => blob.key)));
    const pool = await openContentPool(context);
    try {
      const left: string[] = [];
      for (const key of keys) if (named.has(key) || (await pool.has(key))) left.push(key);
      expect(left, "erased files still in the content backups (their erasure was lost)").toEqual([]);
    } finally {
      await pool.close();
    }
  }, 120_000);

  it("two backups starting at once both take over a dead erasure's file without failing, and it becomes pending once", async () => {
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    await new Promise((resolve) => child.once("spawn", resolve));
    const gone = processIdentityOf(child.pid ?? 0);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    const root = join(dir, "adopt", "backups", "content");
    await mkdir(root, { recursive: true });
    await writeFile(join(root, `.erasures-writing.${ownerTag(gone)}.0badc0de`), `${"c".repeat(64)}\n`);
    const context = { config: { paths: { backups: join(dir, "adopt", "backups") } } } as unknown as PlatformContext;

    const adopted = await Promise.all([adoptInterruptedErasures(context), adoptInterruptedErasures(context)]);
    expect(adopted.reduce((sum, count) => sum + count, 0)).toBe(1);
    const names = await readdir(root);
    expect(names.filter((name) => name.startsWith(".erasures-writing."))).toEqual([]);
    expect(names.filter((name) => name.startsWith(".erasures-pending."))).toHaveLength(1);
  });
});

