import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Config } from "../../platform/config.ts";
import { ownerTag } from "../../platform/process-identity.ts";
import { expiredBackups, listBackups, type RetentionPolicy, type StoredBackup } from "./backup-store.ts";
import { ManifestError, parseManifest, readManifest, type Manifest } from "./manifest.ts";

/** Database backups in the bucket: `backups/database/<id>/<file>`, the manifest written last. */
export const S3_DATABASE_BACKUP_PREFIX = "backups/database/";

type S3Config = NonNullable<Config["s3"]>;
type Sdk = typeof import("@aws-sdk/client-s3");

/** A backup whose manifest is in the bucket, and where it is. */
export interface RemoteBackup {
  manifest: Manifest;
  /** s3://bucket/backups/database/ID/ */
  location: string;
}

/** Runs work with a client for the configured bucket, loaded only when S3 is configured (the AWS SDK is large). */
async function withBucket<T>(s3: S3Config, work: (client: S3Client, sdk: Sdk) => Promise<T>): Promise<T> {
  const [{ createS3Client }, sdk] = await Promise.all([import("../../platform/blobs/s3.ts"), import("@aws-sdk/client-s3")]);
  const client = createS3Client(s3);
  try {
    return await work(client, sdk);
  } finally {
    client.destroy();
  }
}

const remotePrefix = (id: string) => `${S3_DATABASE_BACKUP_PREFIX}${id}/`;
export const remoteLocation = (s3: S3Config, id: string) => `s3://${s3.bucket}/${remotePrefix(id)}`;
const isMissing = (error: unknown) => (error as { name?: string }).name === "NoSuchKey" || (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404;

/**
 * Size of the parts a backup file is sent to the bucket in. One PutObject takes at most 5 GiB, a multipart
 * upload up to 10,000 parts of 5 MiB to 5 GiB each: files above one part go as a multipart upload (ADR 0452).
 */
export const DEFAULT_UPLOAD_PART_BYTES = 64 * 1024 * 1024;
const MAX_PARTS = 10_000;

/** Copies a complete local backup to the bucket; the manifest goes last, so a backup listed there is whole. */
export async function uploadBackup(s3: S3Config, backup: StoredBackup, options: { partBytes?: number } = {}): Promise<string> {
  const partBytes = options.partBytes ?? DEFAULT_UPLOAD_PART_BYTES;
  await withBucket(s3, async (client, sdk) => {
    for (const name of [...backup.manifest.files.map((file) => file.name), "manifest.json"]) {
      await putFile(client, sdk, { Bucket: s3.bucket, Key: `${remotePrefix(backup.manifest.id)}${name}` }, join(backup.dir, name), partBytes);
    }
  });
  return remoteLocation(s3, backup.manifest.id);
}

/**
 * One file into one object: a PutObject when it fits in a part, otherwise a multipart upload, read from the
 * file part by part (never whole in memory). A failed multipart upload is aborted, so the bucket does not
 * keep (and bill) its parts. Each request's body is the part's bytes, not a stream of the file: the SDK
 * never sends a stream twice (an error on it is final), while bytes are retried like any request, so one
 * dropped connection or 503 does not fail a copy of many gigabytes.
 */
async function putFile(client: S3Client, sdk: Sdk, target: { Bucket: string; Key: string }, path: string, partBytes: number): Promise<void> {
  const { size } = await stat(path);
  if (size <= partBytes) {
    await client.send(new sdk.PutObjectCommand({ ...target, Body: await readRange(path, 0, size), ContentLength: size }));
    return;
  }
  // Larger parts for a file that would need more than S3's 10,000.
  const partSize = Math.max(partBytes, Math.ceil(size / MAX_PARTS));
  const { UploadId } = await client.send(new sdk.CreateMultipartUploadCommand(target));
  if (!UploadId) throw new Error(`the bucket did not start a multipart upload for ${target.Key}`);
  try {
    const parts: { ETag: string | undefined; PartNumber: number }[] = [];
    for (let start = 0, number = 1; start < size; start += partSize, number++) {
      const length = Math.min(partSize, size - start);
      const answer = await client.send(new sdk.UploadPartCommand({ ...target, UploadId, PartNumber: number, Body: await readRange(path, start, length), ContentLength: length }));
      parts.push({ ETag: answer.ETag, PartNumber: number });
    }
    await client.send(new sdk.CompleteMultipartUploadCommand({ ...target, UploadId, MultipartUpload: { Parts: parts } }));
  } catch (error) {
    await client.send(new sdk.AbortMultipartUploadCommand({ ...target, UploadId })).catch(() => undefined);
    throw error;
  }
}

/** `length` bytes of a file from `start` (one part: at most the part size in memory). */
async function readRange(path: string, start: number, length: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(length);
  const handle = await open(path, "r");
  try {
    for (let done = 0; done < length; ) {
      const { bytesRead } = await handle.read(bytes, done, length - done, start + done);
      if (bytesRead === 0) throw new Error(`${path} ended ${length - done} bytes early (changed while it was copied)`);
      done += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return bytes;
}

/** Every object key under a prefix. */
async function keysUnder(client: S3Client, sdk: Sdk, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Ids of the backups in the bucket (those whose manifest is there), newest first. */
export async function listRemoteBackups(s3: S3Config): Promise<string[]> {
  return withBucket(s3, async (client, sdk) => remoteIds(client, sdk, s3.bucket));
}

async function remoteIds(client: S3Client, sdk: Sdk, bucket: string): Promise<string[]> {
  const ids: string[] = [];
  for (const key of await keysUnder(client, sdk, bucket, S3_DATABASE_BACKUP_PREFIX)) {
    const match = /^backups\/database\/([^/]+)\/manifest\.json$/.exec(key);
    if (match?.[1]) ids.push(match[1]);
  }
  return ids.sort().reverse();
}

/**
 * The manifests of every backup in the bucket, newest first, and those whose manifest is there but cannot
 * be read (damaged), each named by its location.
 */
export async function listRemoteManifests(s3: S3Config): Promise<{ backups: RemoteBackup[]; damaged: { location: string; problem: string }[] }> {
  return withBucket(s3, async (client, sdk) => {
    const backups: RemoteBackup[] = [];
    const damaged: { location: string; problem: string }[] = [];
    for (const id of await remoteIds(client, sdk, s3.bucket)) {
      const location = remoteLocation(s3, id);
      const answer = await client.send(new sdk.GetObjectCommand({ Bucket: s3.bucket, Key: `${remotePrefix(id)}manifest.json` }));
      try {
        const manifest = parseManifest(await answer.Body?.transformToString("utf8") ?? "", `${location}manifest.json`);
        if (manifest.id !== id) throw new ManifestError(`${location}manifest.json names another backup (${manifest.id})`);
        backups.push({ manifest, location });
      } catch (error) {
        if (!(error instanceof ManifestError)) throw error;
        damaged.push({ location, problem: error.message });
      }
    }
    backups.sort((a, b) => b.manifest.createdAt.localeCompare(a.manifest.createdAt) || b.manifest.id.localeCompare(a.manifest.id));
    return { backups, damaged };
  });
}

/** Downloads every file of a backup in the bucket and checks its size and SHA-256 against the manifest; each problem names the object. */
export async function verifyRemoteBackup(s3: S3Config, backup: RemoteBackup): Promise<string[]> {
  return withBucket(s3, async (client, sdk) => {
    const problems: string[] = [];
    for (const file of backup.manifest.files) {
      const where = `${backup.location}${file.name}`;
      let body: Readable;
      try {
        body = (await client.send(new sdk.GetObjectCommand({ Bucket: s3.bucket, Key: `${remotePrefix(backup.manifest.id)}${file.name}` }))).Body as Readable;
      } catch (error) {
        if (!isMissing(error)) throw error;
        problems.push(`${where}: missing`);
        continue;
      }
      const hash = createHash("sha256");
      let bytes = 0;
      for await (const chunk of body) {
        bytes += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
      if (bytes !== file.bytes) problems.push(`${where}: ${bytes} bytes, the manifest says ${file.bytes} (truncated or replaced)`);
      else if (hash.digest("hex") !== file.sha256) problems.push(`${where}: SHA-256 differs from the manifest (damaged)`);
    }
    return problems;
  });
}

/** Removes a backup from the bucket: the manifest first, so a half-removed backup is never listed. */
async function deleteRemoteBackup(client: S3Client, sdk: Sdk, bucket: string, id: string): Promise<void> {
  const manifestKey = `${remotePrefix(id)}manifest.json`;
  await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: manifestKey }));
  for (const key of await keysUnder(client, sdk, bucket, remotePrefix(id))) {
    if (key !== manifestKey) await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
}

/** Retention in the bucket, with the same policy as the local store (emergency backups kept); returns the ids removed. */
export async function applyRemoteRetention(s3: S3Config, policy: RetentionPolicy, now: Date): Promise<string[]> {
  const { backups } = await listRemoteManifests(s3);
  const expired = expiredBackups(backups.map((backup) => backup.manifest), policy, now);
  if (expired.length === 0) return [];
  await withBucket(s3, async (client, sdk) => {
    for (const manifest of expired) await deleteRemoteBackup(client, sdk, s3.bucket, manifest.id);
  });
  return expired.map((manifest) => manifest.id);
}

/** Downloads a backup from the bucket into the local store (under a hidden name until complete). */
async function downloadBackup(s3: S3Config, id: string, root: string): Promise<void> {
  const partial = join(root, `.fetch-${ownerTag()}-${id}`);
  await mkdir(partial, { recursive: true, mode: 0o700 });
  try {
    await withBucket(s3, async (client, sdk) => {
      const fetchObject = async (name: string) => {
        const answer = await client.send(new sdk.GetObjectCommand({ Bucket: s3.bucket, Key: `${remotePrefix(id)}${name}` }));
        await pipeline(answer.Body as Readable, createWriteStream(join(partial, name), { mode: 0o600 }));
      };
      await fetchObject("manifest.json");
      // Names come from the manifest; the restore checks every file against its checksum before using it.
      for (const file of (await readManifest(partial)).files) {
        if (!/^[\w.-]+$/.test(file.name)) throw new Error(`backup ${id} in the bucket names an unexpected file ${JSON.stringify(file.name)}`);
        await fetchObject(file.name);
      }
    });
    await rename(partial, join(root, id));
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Makes `latest` or an id restorable from the bucket: when the bucket holds a newer backup than the local
 * store (or the asked id only exists there, as on a new machine), it is downloaded first. Returns its id.
 */
export async function fetchFromBucketIfNewer(s3: S3Config, root: string, reference: string): Promise<string | undefined> {
  const latest = reference === "latest";
  if (!latest && !/^[0-9TZ]+-[a-z]+-[0-9a-f]+$/.test(reference)) return undefined;
  const local = await listBackups(root);
  if (!latest && local.some((backup) => backup.manifest.id === reference)) return undefined;
  const remote = await listRemoteBackups(s3);
  const wanted = latest ? remote[0] : remote.find((id) => id === reference);
  if (!wanted || local.some((backup) => backup.manifest.id === wanted)) return undefined;
  // Ids start with their UTC time: the newer of the two is the one latest means.
  if (latest && local[0] && local[0].manifest.id > wanted) return undefined;
  await mkdir(root, { recursive: true, mode: 0o700 });
  await downloadBackup(s3, wanted, root);
  return wanted;
}
