import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Config } from "../../platform/config.ts";
import { listBackups, type StoredBackup } from "./backup-store.ts";
import { readManifest } from "./manifest.ts";

/** Database backups in the bucket: `backups/database/<id>/<file>`, the manifest written last. */
export const S3_DATABASE_BACKUP_PREFIX = "backups/database/";

type S3Config = NonNullable<Config["s3"]>;

async function client(s3: S3Config) {
  // Loaded only when S3 is configured: the AWS SDK is large.
  const [{ createS3Client }, sdk] = await Promise.all([import("../../platform/blobs/s3.ts"), import("@aws-sdk/client-s3")]);
  return { s3Client: createS3Client(s3), sdk };
}

/** Copies a complete local backup to the bucket; the manifest goes last, so a backup listed there is whole. */
export async function uploadBackup(s3: S3Config, backup: StoredBackup): Promise<string> {
  const { s3Client, sdk } = await client(s3);
  const prefix = `${S3_DATABASE_BACKUP_PREFIX}${backup.manifest.id}/`;
  try {
    for (const name of [...backup.manifest.files.map((file) => file.name), "manifest.json"]) {
      const path = join(backup.dir, name);
      await s3Client.send(new sdk.PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${name}`, Body: createReadStream(path), ContentLength: (await stat(path)).size }));
    }
  } finally {
    s3Client.destroy();
  }
  return `s3://${s3.bucket}/${prefix}`;
}

/** Ids of the backups in the bucket (those whose manifest is there), newest first. */
export async function listRemoteBackups(s3: S3Config): Promise<string[]> {
  const { s3Client, sdk } = await client(s3);
  const ids: string[] = [];
  try {
    let token: string | undefined;
    do {
      const page = await s3Client.send(new sdk.ListObjectsV2Command({ Bucket: s3.bucket, Prefix: S3_DATABASE_BACKUP_PREFIX, ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        const match = /^backups\/database\/([^/]+)\/manifest\.json$/.exec(object.Key ?? "");
        if (match?.[1]) ids.push(match[1]);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    s3Client.destroy();
  }
  return ids.sort().reverse();
}

/** Downloads a backup from the bucket into the local store (under a hidden name until complete). */
async function downloadBackup(s3: S3Config, id: string, root: string): Promise<void> {
  const { s3Client, sdk } = await client(s3);
  const partial = join(root, `.fetch-${id}`);
  await mkdir(partial, { recursive: true, mode: 0o700 });
  try {
    const fetchObject = async (name: string) => {
      const answer = await s3Client.send(new sdk.GetObjectCommand({ Bucket: s3.bucket, Key: `${S3_DATABASE_BACKUP_PREFIX}${id}/${name}` }));
      await pipeline(answer.Body as Readable, createWriteStream(join(partial, name), { mode: 0o600 }));
    };
    await fetchObject("manifest.json");
    // Names come from the manifest; the restore checks every file against its checksum before using it.
    for (const file of (await readManifest(partial)).files) {
      if (!/^[\w.-]+$/.test(file.name)) throw new Error(`backup ${id} in the bucket names an unexpected file ${JSON.stringify(file.name)}`);
      await fetchObject(file.name);
    }
    await rename(partial, join(root, id));
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  } finally {
    s3Client.destroy();
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
