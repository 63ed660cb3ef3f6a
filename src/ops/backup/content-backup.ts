import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import { reportProgress, type CommandIO } from "../../platform/command.ts";
import type { PlatformContext } from "../../platform/context.ts";
import type { BlobStore } from "../../platform/blobs/blob-store.ts";
import { createLocalBlobStore } from "../../platform/blobs/local.ts";
import { stageBlob } from "../../platform/blobs/staging.ts";
import { createAttachmentsRepository } from "../../services/users/attachments.repository.ts";
import { applyPendingErasures } from "./content-erasure.ts";
import { expiredBackups, type RetentionPolicy } from "./backup-store.ts";
import { contentRoot, withContentLock } from "./content-lock.ts";
import { readStoredManifests, removeStoredManifest, writeStoredManifest } from "./content-manifests.ts";
import { removeLeftovers } from "./leftovers.ts";

/** Where content backups live in the bucket when S3_BUCKET is set (attachments themselves are under blobs/). */
export const S3_CONTENT_BACKUP_PREFIX = "backups/content/blobs/";

const manifestSchema = z.object({
  id: z.string().regex(/^[0-9TZ]+-content-[0-9a-f]+$/),
  createdAt: z.string(),
  destination: z.enum(["local", "s3"]),
  /** Every attachment blob at the time of the backup: the snapshot a restore brings back. */
  blobs: z.array(z.object({ key: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() })),
  /** How many of them this backup copied (the rest were already in the pool from an earlier backup). */
  copied: z.number().int().nonnegative(),
  /** How long the backup took (azora_backup_duration_seconds{kind="content"}); absent in older manifests. */
  durationSeconds: z.number().nonnegative().optional(),
});
export type ContentManifest = z.infer<typeof manifestSchema>;

/** The pool of backed-up blobs: content-addressed like the live store, so each file is kept once across backups. */
export async function openContentPool(context: Pick<PlatformContext, "config">): Promise<BlobStore> {
  const { config } = context;
  if (!config.s3) return createLocalBlobStore(join(contentRoot(context), "blobs"));
  const { createS3BlobStore } = await import("../../platform/blobs/s3.ts");
  return createS3BlobStore({ ...config.s3, prefix: S3_CONTENT_BACKUP_PREFIX, stagingDir: join(config.paths.blobs, ".staging") });
}

/** Content backups, newest first. */
export async function listContentBackups(context: Pick<PlatformContext, "config">): Promise<ContentManifest[]> {
  return (await readContentManifests(context)).manifests;
}

/** Every content manifest, and where those that cannot be read are (damaged), from where manifests are kept. */
export async function readContentManifests(context: Pick<PlatformContext, "config">): Promise<{ manifests: ContentManifest[]; unreadable: string[] }> {
  const manifests: ContentManifest[] = [];
  const unreadable: string[] = [];
  for (const stored of await readStoredManifests(context)) {
    let json: unknown = null;
    try {
      json = JSON.parse(stored.text ?? "");
    } catch {
      // Not JSON: reported below as unreadable.
    }
    const parsed = manifestSchema.safeParse(json);
    if (parsed.success) manifests.push(parsed.data);
    else unreadable.push(stored.location);
  }
  return { manifests: manifests.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id)), unreadable };
}

/** Manifests kept only on this disk (written before they went beside a pool in S3) go to the bucket too. */
async function moveLocalManifestsToBucket(context: Pick<PlatformContext, "config">): Promise<void> {
  if (!context.config.s3) return;
  for (const stored of await readStoredManifests(context)) {
    if (stored.text !== undefined && !stored.location.startsWith("s3://")) await writeStoredManifest(context, stored.name.replace(/\.json$/, ""), stored.text);
  }
}

/** Refused prune: a manifest cannot be read, so which files it names is unknown; nothing was removed. */
export class ContentPoolRefused extends Error {}

/** What a prune (or the retention after a content backup) removed, or would remove with dryRun. */
export interface ContentPrune {
  /** Content manifests past the retention policy (BACKUP_KEEP_DAILY / BACKUP_KEEP_HOURLY), newest first. */
  expired: string[];
  /** Pool files that no remaining manifest names. */
  unreferenced: string[];
  /** Pool files still named by a manifest. */
  kept: number;
}

/**
 * Applies the retention policy to the content manifests (the newest of each of the last days and hours, and
 * always the newest, as for database backups), then removes the pool files no remaining manifest names: those
 * of expired manifests, and those an interrupted backup left. A damaged manifest refuses the prune: its files
 * cannot be told apart. Call under the content lock.
 */
async function expireAndPrune(context: Pick<PlatformContext, "config">, policy: RetentionPolicy, now: Date, dryRun: boolean): Promise<ContentPrune> {
  const { manifests, unreadable } = await readContentManifests(context);
  if (unreadable.length > 0) throw new ContentPoolRefused(`content backup manifest(s) ${unreadable.join(", ")} cannot be read, so the files they name are unknown: repair or remove them, then prune again; nothing was removed`);
  const expired = new Set(expiredBackups(manifests, policy, now).map((manifest) => manifest.id));
  const remaining = manifests.filter((manifest) => !expired.has(manifest.id));
  const named = new Set(remaining.flatMap((manifest) => manifest.blobs.map((blob) => blob.key)));
  const pool = await openContentPool(context);
  try {
    const unreferenced: string[] = [];
    let kept = 0;
    for await (const key of pool.list()) {
      if (named.has(key)) kept++;
      else unreferenced.push(key);
    }
    if (!dryRun) {
      // Manifests first: an interruption then leaves only unnamed files, which the next prune removes.
      for (const id of expired) await removeStoredManifest(context, id);
      for (const key of unreferenced) await pool.delete(key);
    }
    return { expired: manifests.filter((manifest) => expired.has(manifest.id)).map((manifest) => manifest.id), unreferenced, kept };
  } finally {
    await pool.close();
  }
}

/** The retention of the place the pool is: the bucket's (BACKUP_S3_KEEP_*) when it is in S3, the local one otherwise. */
const retentionOf = (context: Pick<PlatformContext, "config">): RetentionPolicy => {
  const { backup, s3 } = context.config;
  return s3 ? backup.bucket : { keepDaily: backup.keepDaily, keepHourly: backup.keepHourly };
};

/**
 * `azora backup prune-content`: expires content manifests past the retention policy and removes the pool
 * files no remaining content backup names (those only expired manifests named, and those an interrupted
 * backup left).
 */
export async function pruneContentPool(context: PlatformContext, options: { dryRun: boolean }): Promise<ContentPrune> {
  return withContentLock(
    context,
    async () => {
      // Erasures that met a running backup are finished first (ADR 0332).
      if (!options.dryRun) await applyPendingErasures(context);
      return expireAndPrune(context, retentionOf(context), new Date(context.clock.now()), options.dryRun);
    },
    { retries: 60, purpose: "a content prune" },
  );
}

/** The source store no longer holds a blob that was listed or named a moment ago. */
export class BlobVanished extends Error {}

/** Copies one blob between stores, checking that the bytes still hash to their name. */
export async function copyBlob(from: BlobStore, to: BlobStore, key: string): Promise<number> {
  const stream = await from.get(key);
  if (!stream) throw new BlobVanished(`blob ${key} vanished while it was copied`);
  const staged = await stageBlob(stream, to.stagingDir).catch(async (error: unknown) => {
    // Removed between the lookup and the read (a local file unlinked as its stream opened).
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && !(await from.has(key))) throw new BlobVanished(`blob ${key} vanished while it was copied`);
    throw error;
  });
  if (staged.key !== key) {
    await staged.discard();
    throw new Error(`blob ${key} does not hash to its name (its bytes are damaged): not copied`);
  }
  await to.put(staged.key, staged.path);
  return staged.size;
}

/**
 * `azora backup content`: every attachment blob into the content pool, incremental by content hash — a
 * blob the previous content backup already holds is not copied again. The manifest lists the whole set.
 */
export async function takeContentBackup(context: PlatformContext, io: CommandIO): Promise<{ manifest: ContentManifest; retention: ContentPrune | { failed: string } }> {
  await removeLeftovers(context, io);
  return withContentLock(
    context,
    async () => {
      await moveLocalManifestsToBucket(context);
      const manifest = await copyIntoPool(context, io);
      // The backup is complete by now: retention that cannot run (a damaged manifest) is reported, not a failed backup.
      const retention = await expireAndPrune(context, retentionOf(context), new Date(context.clock.now()), false).catch((error: unknown) => {
        if (error instanceof ContentPoolRefused) return { failed: error.message };
        throw error;
      });
      return { manifest, retention };
    },
    { retries: 60, purpose: "a content backup" },
  );
}

async function copyIntoPool(context: PlatformContext, io: CommandIO): Promise<ContentManifest> {
  const started = Date.now();
  const pool = await openContentPool(context);
  try {
    const [previous] = await listContentBackups(context);
    const already = new Map(previous?.blobs.map((blob) => [blob.key, blob.bytes]));
    const keys: string[] = [];
    for await (const key of context.blobs.list()) keys.push(key);
    const blobs: ContentManifest["blobs"] = [];
    let copied = 0;
    for (const [index, key] of keys.entries()) {
      reportProgress(io, { done: index, total: keys.length, label: "copying new attachment files" });
      const known = already.get(key);
      if (known !== undefined) {
        blobs.push({ key, bytes: known });
        continue;
      }
      const bytes = await copyBlob(context.blobs, pool, key).catch((error: unknown) => {
        // Deleted since the listing (its attachment removed, or its owner erased): the backup is a snapshot
        // of the live store, which no longer holds it. Failing the whole backup for it would leave none.
        if (error instanceof BlobVanished) return undefined;
        throw error;
      });
      if (bytes === undefined) continue;
      blobs.push({ key, bytes });
      copied++;
    }
    reportProgress(io, { done: keys.length, total: keys.length, label: "copying new attachment files" });
    // An erasure during this backup left its keys pending: they leave this manifest, the older ones and the pool.
    await applyPendingErasures(context, blobs);
    const at = new Date(context.clock.now());
    const id = `${at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-content-${randomBytes(3).toString("hex")}`;
    const manifest: ContentManifest = { id, createdAt: at.toISOString(), destination: context.config.s3 ? "s3" : "local", blobs, copied, durationSeconds: (Date.now() - started) / 1000 };
    // The manifest is written last, and atomically: a backup without one does not exist. With the pool in S3 it
    // goes beside the pool too, so the bucket alone restores the content (ADR 0453).
    await writeStoredManifest(context, id, JSON.stringify(manifest, null, 2));
    return manifest;
  } finally {
    await pool.close();
  }
}

/**
 * `azora restore content [ID|latest]`: brings back every file of that content backup that the live
 * database still names and the live store lacks. Files only rows gone since (erased people) name stay out.
 */
export async function restoreContent(context: PlatformContext, manifest: ContentManifest, io: CommandIO): Promise<{ restored: number; present: number; unreferenced: number }> {
  const pool = await openContentPool(context);
  try {
    const named = new Set(await createAttachmentsRepository(context.db).allBlobKeys());
    let restored = 0;
    let present = 0;
    let unreferenced = 0;
    for (const [index, { key }] of manifest.blobs.entries()) {
      reportProgress(io, { done: index, total: manifest.blobs.length, label: "restoring attachment files" });
      if (!named.has(key)) unreferenced++;
      else if (await context.blobs.has(key)) present++;
      else {
        await copyBlob(pool, context.blobs, key);
        restored++;
      }
    }
    reportProgress(io, { done: manifest.blobs.length, total: manifest.blobs.length, label: "restoring attachment files" });
    return { restored, present, unreferenced };
  } finally {
    await pool.close();
  }
}
