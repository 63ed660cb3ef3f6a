import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { PlatformContext } from "../../platform/context.ts";
import { blobKeyPattern } from "../../platform/blobs/blob-store.ts";
import { ownerIsGone, ownerTag } from "../../platform/process-identity.ts";
import { createAttachmentsRepository } from "../../services/users/attachments.repository.ts";
import { openContentPool, type ContentManifest } from "./content-backup.ts";
import { readStoredManifests, writeStoredManifest } from "./content-manifests.ts";
import { contentRoot, isContentLockBusy, withContentLock } from "./content-lock.ts";

/**
 * Blob keys of erased people waiting to leave the content backup pool. Written before the pool is touched,
 * so an erasure that meets a running content backup (or dies) is finished by that backup, the next one, or
 * the next prune. Each erasure writes its own file, complete before it appears under its name: a backup
 * that takes the pending files can never read one that an erasure is still writing into, and then delete
 * it with keys it did not see (which one shared file, appended to, allowed). The files hold hashes of
 * files only, and only until they are applied.
 */
const PENDING = ".erasures-pending";
/** A pending file as it appears once written (the bare name is the single file older versions appended to). */
const pendingName = /^\.erasures-pending(\.[0-9a-f]+)?$/;

/** An erasure's file while it is written, tagged with the writing process. */
const WRITING = ".erasures-writing.";

type Context = Pick<PlatformContext, "config" | "db">;

async function recordPending(context: Context, keys: string[]): Promise<void> {
  const root = contentRoot(context);
  await mkdir(root, { recursive: true, mode: 0o700 });
  const name = `${PENDING}.${randomBytes(8).toString("hex")}`;
  // Written aside (a name the pending list does not match) and renamed: the rename is what makes it pending.
  const writing = join(root, `${WRITING}${ownerTag()}.${name.slice(PENDING.length + 1)}`);
  const handle = await open(writing, "wx", 0o600);
  try {
    await handle.write(keys.map((key) => `${key}\n`).join(""));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(writing, join(root, name));
}

/**
 * An erasure reaches the content backups: the person's files (those no remaining attachment holds) are
 * taken out of every content manifest and deleted from the pool (DATA_DIR/backups/content/blobs or the
 * bucket's backups/content/blobs/). With the content lock busy (a content backup running) the keys stay
 * pending and that backup applies them before it writes its manifest; `pending` says so. A caller that
 * holds the content lock already (a restore) says so with `lockHeld`, and the keys are applied at once.
 */
export async function forgetInContentBackups(context: Context, blobKeys: string[], options: { retries: number; lockHeld?: boolean } = { retries: 60 }): Promise<{ removed: number; pending: boolean }> {
  const keys = [...new Set(blobKeys)].filter((key) => blobKeyPattern.test(key));
  if (keys.length === 0) return { removed: 0, pending: false };
  await recordPending(context, keys);
  if (options.lockHeld) return { removed: await applyPendingErasures(context), pending: false };
  try {
    return { removed: await withContentLock(context, () => applyPendingErasures(context), { retries: options.retries, purpose: "an erasure" }), pending: false };
  } catch (error) {
    if (isContentLockBusy(error)) return { removed: 0, pending: true };
    throw error;
  }
}

/**
 * The file of an erasure whose process died while writing it holds keys of a person already erased from the
 * database: it becomes pending like a complete one (a line cut short is not a key and is skipped), so the
 * erasure still reaches the backups. Returns how many were taken over.
 */
export async function adoptInterruptedErasures(context: Pick<PlatformContext, "config">): Promise<number> {
  const root = contentRoot(context);
  let adopted = 0;
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (!name.startsWith(WRITING) || !ownerIsGone(name)) continue;
    // Another backup or restore starting at the same moment may have taken it over first.
    const taken = await rename(join(root, name), join(root, `${PENDING}.${randomBytes(8).toString("hex")}`)).then(
      () => true,
      (error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
        throw error;
      },
    );
    if (taken) adopted++;
  }
  return adopted;
}

/**
 * Applies every pending erasure; call it holding the content lock. `inProgress` is the blob list of a
 * content backup about to write its manifest: erased keys leave it too. Returns how many keys were erased.
 */
export async function applyPendingErasures(context: Context, inProgress?: ContentManifest["blobs"]): Promise<number> {
  const root = contentRoot(context);
  const names = (await readdir(root).catch(() => [] as string[])).filter((name) => pendingName.test(name));
  if (names.length === 0) return 0;
  const taken: string[] = [];
  for (const name of names) {
    // The single file of an older version is taken aside first, as that version did; the others are complete
    // and never written again, so the ones read here are exactly the ones removed at the end.
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
    await dropFromManifests(context, erased);
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

/** Each content manifest that names an erased key is rewritten without it, wherever manifests are kept. */
async function dropFromManifests(context: Pick<PlatformContext, "config">, erased: Set<string>): Promise<void> {
  for (const stored of await readStoredManifests(context)) {
    let manifest: ContentManifest;
    try {
      manifest = JSON.parse(stored.text ?? "") as ContentManifest;
    } catch {
      continue; // A damaged manifest is prune's to report; its pool files are deleted all the same.
    }
    if (!Array.isArray(manifest.blobs) || !manifest.blobs.some((blob) => erased.has(blob.key))) continue;
    const next = { ...manifest, blobs: manifest.blobs.filter((blob) => !erased.has(blob.key)) };
    await writeStoredManifest(context, stored.name.replace(/\.json$/, ""), JSON.stringify(next, null, 2));
  }
}
