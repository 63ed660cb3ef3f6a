import { stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { BlobStore } from "../../platform/blobs/blob-store.ts";
import { createLocalBlobStore } from "../../platform/blobs/local.ts";
import type { PlatformContext } from "../../platform/context.ts";
import { reportProgress, type CommandIO } from "../../platform/command.ts";
import type { Queryable } from "../../platform/db/db.ts";
import { createAttachmentsRepository } from "../../services/users/attachments.repository.ts";
import { copyBlob, openContentPool } from "./content-backup.ts";
import { RestoreRefused } from "./restore-scratch.ts";

/** A place a restore may find attachment bytes that the target blob store lacks. */
export interface BlobSource {
  /** For messages: a directory, or s3://bucket/prefix (never credentials). */
  label: string;
  store: BlobStore;
}

/** A --blobs-from value that names no usable place; nothing was changed. */
export class BlobSourceRefused extends RestoreRefused {}

/**
 * `--blobs-from` values: a blob directory (DATA_DIR/blobs of the other installation, or a content pool),
 * `s3://BUCKET/PREFIX` (AWS, region S3_REGION), or `http(s)://ENDPOINT/BUCKET/PREFIX` for an S3-compatible
 * store (path style). Credentials come from S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY or the SDK's chain.
 */
export async function explicitBlobSource(place: string, context: Pick<PlatformContext, "config">, env: NodeJS.ProcessEnv = process.env): Promise<BlobSource> {
  const url = /^(s3|https?):\/\//.test(place) ? new URL(place) : undefined;
  if (!url) {
    const dir = resolve(place);
    if (!(await stat(dir).then((info) => info.isDirectory()).catch(() => false))) throw new BlobSourceRefused(`--blobs-from ${place}: no such directory`);
    return { label: dir, store: createLocalBlobStore(dir) };
  }
  // Written in a URL, a secret would sit in shell history and in the process list: refused without echoing it.
  if (url.username || url.password) throw new BlobSourceRefused(`--blobs-from ${url.protocol}//…: leave the credentials out of the address and set S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY; nothing was changed`);
  const path = url.pathname.replace(/^\//, "");
  const [bucket, ...rest] = url.protocol === "s3:" ? [url.hostname, ...path.split("/")] : path.split("/");
  if (!bucket) throw new BlobSourceRefused(`--blobs-from ${url.protocol}//…: name the bucket (s3://BUCKET/PREFIX or http(s)://ENDPOINT/BUCKET/PREFIX)`);
  const prefix = rest.filter(Boolean).map((part) => `${part}/`).join("");
  const accessKeyId = env.S3_ACCESS_KEY_ID;
  const secretAccessKey = env.S3_SECRET_ACCESS_KEY;
  const { createS3BlobStore } = await import("../../platform/blobs/s3.ts");
  const store = createS3BlobStore({
    endpoint: url.protocol === "s3:" ? undefined : url.origin,
    bucket,
    region: env.S3_REGION ?? "us-east-1",
    forcePathStyle: url.protocol !== "s3:",
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    prefix,
    stagingDir: join(context.config.paths.blobs, ".staging"),
  });
  const label = `s3://${bucket}/${prefix}`;
  // Read once now: wrong credentials, a missing bucket or an endpoint that does not answer refuse the restore
  // here, before maintenance mode, instead of every file looking absent and the restore going live without them.
  try {
    await store.list()[Symbol.asyncIterator]().next();
  } catch (error) {
    await store.close().catch(() => undefined);
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new BlobSourceRefused(`--blobs-from ${label} cannot be read (${why}): check the address, the bucket and S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY; nothing was changed`);
  }
  return { label, store };
}

/**
 * Where a restore looks for the files its database names, in order: what the operator named, this
 * DATA_DIR's own files when the target is S3 (a move in place), the installation the backup came from
 * (DATA_DIR/blobs and its content pool beside DATA_DIR/backups/ID), and this installation's content pool.
 */
export async function blobSourcesFor(context: Pick<PlatformContext, "config" | "blobs">, options: { backupDir?: string; blobsFrom: string[] }): Promise<BlobSource[]> {
  const sources: BlobSource[] = [];
  try {
    for (const place of options.blobsFrom) sources.push(await explicitBlobSource(place, context));
  } catch (error) {
    await Promise.all(sources.map((source) => source.store.close()));
    throw error;
  }
  const targetDir = context.blobs.kind === "local" ? resolve(context.config.paths.blobs) : undefined;
  const localCandidates: string[] = [];
  if (context.blobs.kind === "s3") localCandidates.push(resolve(context.config.paths.blobs));
  if (options.backupDir && basename(dirname(resolve(options.backupDir))) === "backups") {
    const sourceDataDir = dirname(dirname(resolve(options.backupDir)));
    localCandidates.push(join(sourceDataDir, "blobs"), join(sourceDataDir, "backups", "content", "blobs"));
  }
  const seen = new Set(sources.map((source) => source.label));
  for (const dir of localCandidates) {
    if (dir === targetDir || seen.has(dir) || !(await stat(dir).catch(() => undefined))) continue;
    seen.add(dir);
    sources.push({ label: dir, store: createLocalBlobStore(dir) });
  }
  const pool = await openContentPool(context);
  sources.push({ label: context.config.s3 ? `s3://${context.config.s3.bucket}/backups/content/blobs/` : join(context.config.paths.backups, "content", "blobs"), store: pool });
  return sources;
}

export interface BlobMoveReport {
  /** Distinct files the restored database names. */
  referenced: number;
  /** Already in the target store. */
  present: number;
  /** Copied from a source (each checked against its SHA-256 on the way). */
  copied: number;
  /** Named by the database, found nowhere: the operator is told where the restore looked. */
  missing: string[];
  /** Keys copied, so that a restore that then fails can take them back. */
  copiedKeys: string[];
}

/**
 * Puts every file the restored database names into the target blob store (S3 or DATA_DIR/blobs), from the
 * first source that holds it. Blobs are content-addressed, so a copy whose bytes do not hash to the name
 * is refused, and copying into a store that is live is harmless: nothing names the new blobs until the swap.
 */
export async function bringReferencedBlobs(restored: Queryable, target: BlobStore, sources: BlobSource[], io: CommandIO): Promise<BlobMoveReport> {
  const keys = await createAttachmentsRepository(restored).allBlobKeys();
  const report: BlobMoveReport = { referenced: keys.length, present: 0, copied: 0, missing: [], copiedKeys: [] };
  if (keys.length === 0) return report;
  // One listing instead of a HEAD per file: a restore of many attachments runs under maintenance mode.
  const stored = new Set<string>();
  for await (const key of target.list()) stored.add(key);
  for (const [index, key] of keys.entries()) {
    reportProgress(io, { done: index, total: keys.length, label: "bringing attachment files into the blob store" });
    if (stored.has(key)) {
      report.present++;
      continue;
    }
    let source: BlobSource | undefined;
    // A source that fails to answer fails the restore (before the swap, so nothing changes): taken for
    // "not there", it would let the restored database go live without the files it names.
    for (const candidate of sources) {
      if (await candidate.store.has(key)) {
        source = candidate;
        break;
      }
    }
    if (!source) {
      report.missing.push(key);
      continue;
    }
    await copyBlob(source.store, target, key);
    report.copied++;
    report.copiedKeys.push(key);
  }
  reportProgress(io, { done: keys.length, total: keys.length, label: "bringing attachment files into the blob store" });
  return report;
}
