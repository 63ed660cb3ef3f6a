import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startS3, type TestS3 } from "../../../test/helpers/s3.ts";
import { testConfig } from "../../../test/helpers/platform.ts";
import type { BlobStore } from "./blob-store.ts";
import { openBlobStore } from "./open.ts";
import { stageBlob } from "./staging.ts";

let s3: TestS3;
let dir: string;
beforeAll(async () => {
  s3 = await startS3();
  dir = await mkdtemp(join(tmpdir(), "azora-blobs-"));
});
afterAll(async () => {
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

const stores: [string, () => Promise<BlobStore>][] = [
  ["local files", async () => openBlobStore(testConfig({ DATA_DIR: join(dir, "local") }))],
  ["S3 (s3rver)", async () => openBlobStore(testConfig({ DATA_DIR: join(dir, "s3"), ...s3.env }))],
];

describe.each(stores)("blob store on %s", (_name, open) => {
  it("stores a staged stream under its SHA-256, reads it back, lists and deletes it", async () => {
    const store = await open();
    const staged = await stageBlob(Readable.from([Buffer.from("hello "), Buffer.from("blob")]), store.stagingDir);
    expect(staged.key).toBe(createHash("sha256").update("hello blob").digest("hex"));
    expect(staged.size).toBe(10);
    await store.put(staged.key, staged.path);
    expect(await store.has(staged.key)).toBe(true);
    expect(await text((await store.get(staged.key)) as Readable)).toBe("hello blob");
    const listed: string[] = [];
    for await (const key of store.list()) listed.push(key);
    expect(listed).toContain(staged.key);
    // The staged file was consumed, whichever store took it.
    expect((await readdir(store.stagingDir)).filter((name) => name.endsWith(".part"))).toEqual([]);
    await store.delete(staged.key);
    expect(await store.has(staged.key)).toBe(false);
    expect(await store.get(staged.key)).toBeUndefined();
    await store.delete(staged.key);
    await store.close();
  });

  it("stores equal content once: a second put of the same key is a no-op", async () => {
    const store = await open();
    const first = await stageBlob(Readable.from([Buffer.from("same bytes")]), store.stagingDir);
    const second = await stageBlob(Readable.from([Buffer.from("same bytes")]), store.stagingDir);
    expect(second.key).toBe(first.key);
    await store.put(first.key, first.path);
    await store.put(second.key, second.path);
    const listed: string[] = [];
    for await (const key of store.list()) if (key === first.key) listed.push(key);
    expect(listed).toHaveLength(1);
    await store.close();
  });

  it("refuses a key that is not a SHA-256 (no path tricks)", async () => {
    const store = await open();
    await expect(store.get("../../etc/passwd")).rejects.toThrow(/not a blob key/);
    await store.close();
  });
});

describe("stageBlob", () => {
  it("leaves no file behind when the stream fails", async () => {
    const staging = join(dir, "failing");
    const failing = new Readable({
      read() {
        this.push(Buffer.from("part"));
        this.destroy(new Error("cut off"));
      },
    });
    await expect(stageBlob(failing, staging)).rejects.toThrow("cut off");
    expect(await readdir(staging)).toEqual([]);
  });
});
