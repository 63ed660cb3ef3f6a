import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { PlatformContext } from "../../platform/context.ts";
import type { BlobStore } from "../../platform/blobs/blob-store.ts";
import { createLocalBlobStore } from "../../platform/blobs/local.ts";
import { stageBlob } from "../../platform/blobs/staging.ts";
import { listContentBackups, openContentPool, takeContentBackup } from "./content-backup.ts";

const silent = { out: () => undefined, err: () => undefined };

async function putBlob(store: BlobStore, text: string): Promise<string> {
  const staged = await stageBlob(Readable.from([Buffer.from(text)]), store.stagingDir);
  await store.put(staged.key, staged.path);
  return staged.key;
}

/** Only what a content backup reads: paths, retention, the live blob store and the clock (no database). */
function contextFor(dir: string, blobs: BlobStore): PlatformContext {
  const config = { paths: { backups: join(dir, "backups"), blobs: join(dir, "blobs"), pg: join(dir, "pg") }, database: {}, s3: undefined, backup: { keepDaily: 7, keepHourly: 24 } };
  return { config, blobs, clock: { now: () => Date.now() } } as unknown as PlatformContext;
}

describe("content backup", () => {
  let dir = "";
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("an attachment deleted while the backup runs is left out of it instead of failing the whole backup", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-content-"));
    const live = createLocalBlobStore(join(dir, "blobs"));
    const kept = await putBlob(live, "a file that stays");
    const deleted = await putBlob(live, "a file its owner deletes during the backup");
    // The real store, except that the deletion lands between the listing and the copy (as a DELETE
    // /api/content/:id/attachments/:attachmentId or a GDPR erasure does while a long backup runs).
    const racing: BlobStore = {
      ...live,
      async *list() {
        yield* live.list();
        await live.delete(deleted);
      },
    };
    const { manifest } = await takeContentBackup(contextFor(dir, racing), silent);
    expect(manifest.blobs.map((blob) => blob.key)).toEqual([kept]);
    expect(await listContentBackups(contextFor(dir, live))).toHaveLength(1);
    const pool = await openContentPool(contextFor(dir, live));
    try {
      expect(await pool.has(kept)).toBe(true);
      expect(await pool.has(deleted)).toBe(false);
    } finally {
      await pool.close();
    }
    expect(createHash("sha256").update(await readFile(join(dir, "backups", "content", "blobs", kept.slice(0, 2), kept.slice(2, 4), kept))).digest("hex")).toBe(kept);
  });

  it("a live file whose bytes no longer hash to its name still fails the backup (damage is not skipped)", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-content-"));
    const live = createLocalBlobStore(join(dir, "blobs"));
    const key = await putBlob(live, "bytes that will be damaged");
    await writeFile(join(dir, "blobs", key.slice(0, 2), key.slice(2, 4), key), "damaged");
    await expect(takeContentBackup(contextFor(dir, live), silent)).rejects.toThrow(/does not hash to its name/);
  });
});
