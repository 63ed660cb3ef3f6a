import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PlatformContext } from "../../platform/context.ts";
import { blobKeyPattern } from "../../platform/blobs/blob-store.ts";
import { createAttachmentsRepository } from "../../services/users/attachments.repository.ts";
import { contentRoot, openContentPool, withContentLock, type ContentManifest } from "./content-backup.ts";

/**
 * Blob keys of erased people waiting to leave the content backup pool. Written before the pool is touched,
 * so an erasure that meets a running content backup (or dies) is finished by that backup, the next one, or
 * the next prune. The file holds hashes of files only, and only until they are applied.
 */
const PENDING = ".erasures-pending";

type Context = Pick<PlatformContext, "config" | "db">;

async function appendPending(context: Context, keys: string[]): Promise<void> {
  const root = contentRoot(context);
  await mkdir(root, { recursive: true, mode: 0o700 });
  const handle = await open(join(root, PENDING), "a", 0o600);
  try {
    await handle.write(keys.map((key) => `${key}\n`).join(""));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * An erasure reaches the content backups: the person's files (those no remaining attachment holds) are
 * taken out of every content manifest and deleted from the pool (DATA_DIR/backups/content/blobs or the
 * bucket's backups/content/blobs/). With the content lock busy (a content backup running) the keys stay
 * pending and that backup applies them before it writes its manifest; `pending` says so.
 */
export async function forgetInContentBackups(context: Context, blobKeys: string[], options: { retries: number } = { retries: 60 }): Promise<{ removed: number; pending: boolean }> {
  const keys = [...new Set(blobKeys)].filter((key) => blobKeyPattern.test(key));
  if (keys.length === 0) return { removed: 0, pending: false };
  await appendPending(context, keys);
  try {
    return { removed: await withContentLock(context, () => applyPendingErasures(context), options), pending: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOCKED") return { removed: 0, pending: true };
    throw error;
  }
}

/**
 * Applies every pending erasure; call it holding the content lock. `inProgress` is the blob list of a
 * content backup about to write its manifest: erased keys leave it too. Returns how many keys were erased.
 */
export async function applyPendingErasures(context: Context, inProgress?: ContentManifest["blobs"]): Promise<number> {
  const root = contentRoot(context);
  // Taken aside first: an erasure appending meanwhile writes a new pending file, applied next time.
  const names = (await readdir(root).catch(() => [] as string[])).filter((name) => name === PENDING || name.startsWith(`${PENDING}.`));
  if (names.length === 0) return 0;
  const taken: string[] = [];
  for (const name of names) {
    const aside = name === PENDING ? `${PENDING}.${randomBytes(4).toString("hex")}` : name;
    if (name === PENDING) await rename(join(root, name), join(root, aside));
    taken.push(join(root, aside));
  }
  const pending = new Set<string>();
  for (const file of taken) for (const line of (await readFile(file, "utf8")).split("\n")) if (blobKeyPattern.test(line)) pending.add(line);

  // Bytes that a remaining attachment also holds are that person's file too: they stay.
  const attachments = createAttachmentsRepository(context.db);
  const erased = new Set<string>();
  for (const key of pending) if (!(await attachments.isBlobReferenced(key))) erased.add(key);

  if (erased.size > 0) {
    await dropFromManifests(root, erased);
    const pool = await openContentPool(context);
    try {
      for (const key of erased) await pool.delete(key);
    } finally {
      await pool.close();
    }
    if (inProgress) {
      const kept = inProgress.filter((blob) => !erased.has(blob.key));
      inProgress.splice(0, inProgress.length, ...kept);
    }
  }
  for (const file of taken) await rm(file, { force: true });
  return erased.size;
}

/** Each content manifest that names an erased key is rewritten without it (atomically: written aside, renamed). */
async function dropFromManifests(root: string, erased: Set<string>): Promise<void> {
  for (const name of await readdir(root)) {
    if (!name.endsWith(".json")) continue;
    const path = join(root, name);
    let manifest: ContentManifest;
    try {
      manifest = JSON.parse(await readFile(path, "utf8")) as ContentManifest;
    } catch {
      continue; // A damaged manifest is prune's to report; its pool files are deleted all the same.
    }
    if (!Array.isArray(manifest.blobs) || !manifest.blobs.some((blob) => erased.has(blob.key))) continue;
    const next = { ...manifest, blobs: manifest.blobs.filter((blob) => !erased.has(blob.key)) };
    await writeFile(`${path}.tmp`, JSON.stringify(next, null, 2), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }
}
