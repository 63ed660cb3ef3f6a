import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { assertBlobKey, blobKeyPattern, type BlobStore } from "./blob-store.ts";

/**
 * Blobs as files under `root`, fanned out by the first two bytes of the hash (ab/cd/abcd…) so no
 * directory grows huge. A staged file is flushed to disk and renamed into place: a reader sees the whole
 * blob or none, and a crash leaves at most a staged file, never half a blob.
 */
export function createLocalBlobStore(root: string): BlobStore {
  const stagingDir = join(root, ".staging");
  const pathOf = (key: string) => {
    assertBlobKey(key);
    return join(root, key.slice(0, 2), key.slice(2, 4), key);
  };

  async function fsync(path: string): Promise<void> {
    const handle = await open(path, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  return {
    kind: "local",
    stagingDir,
    async put(key, stagedPath) {
      const target = pathOf(key);
      if (await exists(target)) {
        await rm(stagedPath, { force: true });
        return;
      }
      await fsync(stagedPath);
      await mkdir(dirname(target), { recursive: true });
      await rename(stagedPath, target);
      await fsync(dirname(target));
    },
    async get(key): Promise<Readable | undefined> {
      const path = pathOf(key);
      if (!(await exists(path))) return undefined;
      return createReadStream(path);
    },
    has: (key) => exists(pathOf(key)),
    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
    async *list() {
      for (const first of await readdir(root).catch(() => [] as string[])) {
        if (!/^[0-9a-f]{2}$/.test(first)) continue;
        for (const second of await readdir(join(root, first)).catch(() => [] as string[])) {
          for (const name of await readdir(join(root, first, second)).catch(() => [] as string[])) {
            if (blobKeyPattern.test(name)) yield name;
          }
        }
      }
    },
    close: async () => undefined,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}
