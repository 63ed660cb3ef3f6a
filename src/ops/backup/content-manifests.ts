import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PlatformContext } from "../../platform/context.ts";
import { contentRoot } from "./content-lock.ts";

/** Where content manifests sit in the bucket when the pool is there: beside the pool's backups/content/blobs/. */
export const S3_CONTENT_MANIFEST_PREFIX = "backups/content/manifests/";

type Context = Pick<PlatformContext, "config">;

/** A manifest as stored: its name (ID.json), where it is (for messages), and its text (undefined: unreadable). */
export interface StoredManifestText {
  name: string;
  location: string;
  text: string | undefined;
}

/**
 * The places content manifests are kept (ADR 0453). Always DATA_DIR/backups/content (the backup gauges read
 * the newest there); with the pool in S3 also the bucket, which is the list that counts: a new machine
 * restores content from the bucket alone. A manifest only on the local disk (written before manifests went to
 * the bucket) still counts, and goes to the bucket the next time it is written.
 */
export async function readStoredManifests(context: Context): Promise<StoredManifestText[]> {
  const local = await readLocal(context);
  const s3 = context.config.s3;
  if (!s3) return local;
  const remote = await withManifestBucket(context, async ({ client, sdk, bucket }) => {
    const found: StoredManifestText[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: S3_CONTENT_MANIFEST_PREFIX, ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(S3_CONTENT_MANIFEST_PREFIX.length) ?? "";
        if (!name.endsWith(".json") || name.includes("/")) continue;
        const answer = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: object.Key }));
        found.push({ name, location: `s3://${bucket}/${object.Key}`, text: await answer.Body?.transformToString("utf8") });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  });
  const inBucket = new Set(remote.map((manifest) => manifest.name));
  return [...remote, ...local.filter((manifest) => !inBucket.has(manifest.name))];
}

/** Writes a manifest (atomically on disk; the bucket's PutObject is atomic) to every place manifests are kept. */
export async function writeStoredManifest(context: Context, id: string, text: string): Promise<void> {
  const root = contentRoot(context);
  await mkdir(root, { recursive: true, mode: 0o700 });
  const path = join(root, `${id}.json`);
  await writeFile(`${path}.tmp`, text, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
  if (context.config.s3) {
    await withManifestBucket(context, ({ client, sdk, bucket }) => client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: `${S3_CONTENT_MANIFEST_PREFIX}${id}.json`, Body: text, ContentType: "application/json" })));
  }
}

/** Removes a manifest from every place manifests are kept. */
export async function removeStoredManifest(context: Context, id: string): Promise<void> {
  if (context.config.s3) {
    await withManifestBucket(context, ({ client, sdk, bucket }) => client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: `${S3_CONTENT_MANIFEST_PREFIX}${id}.json` })));
  }
  await rm(join(contentRoot(context), `${id}.json`), { force: true });
}

async function readLocal(context: Context): Promise<StoredManifestText[]> {
  const root = contentRoot(context);
  const names = (await readdir(root).catch(() => [] as string[])).filter((name) => name.endsWith(".json") && !name.startsWith("."));
  return Promise.all(names.map(async (name) => ({ name, location: join(root, name), text: await readFile(join(root, name), "utf8").catch(() => undefined) })));
}

type Bucket = { client: import("@aws-sdk/client-s3").S3Client; sdk: typeof import("@aws-sdk/client-s3"); bucket: string };

/** A client for the configured bucket, loaded only when S3 is configured (the AWS SDK is large). */
async function withManifestBucket<T>(context: Context, work: (bucket: Bucket) => Promise<T>): Promise<T> {
  const s3 = context.config.s3;
  if (!s3) throw new Error("no S3 bucket is configured");
  const [{ createS3Client }, sdk] = await Promise.all([import("../../platform/blobs/s3.ts"), import("@aws-sdk/client-s3")]);
  const client = createS3Client(s3);
  try {
    return await work({ client, sdk, bucket: s3.bucket });
  } finally {
    client.destroy();
  }
}
