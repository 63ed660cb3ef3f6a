import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { Config } from "../../src/platform/config.ts";

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  on(event: "event", listener: (event: { Records: { eventName: string; s3: { object: { key: string } } }[] }) => void): void;
  close(): Promise<void>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

export interface TestS3 {
  /** Environment that points the platform at this server and bucket. */
  env: Record<string, string>;
  bucket: string;
  endpoint: string;
  /** The same connection as the platform's config reads it from `env`, for code called directly (uploads, clients). */
  config: NonNullable<Config["s3"]>;
  directory: string;
  /** What the server stored, in order: "ObjectCreated:Put KEY" for one PutObject, "ObjectCreated:Post KEY" for a completed multipart upload. */
  events: string[];
  stop(): Promise<void>;
}

/** A real S3-compatible server (s3rver) on a free loopback port, with one empty bucket, files in a temp dir. */
export async function startS3(bucket = "azora-test"): Promise<TestS3> {
  const S3rver = createRequire(import.meta.url)("s3rver") as S3rverClass;
  const directory = await mkdtemp(join(tmpdir(), "azora-s3-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] });
  const events: string[] = [];
  server.on("event", (event) => {
    for (const record of event.Records) events.push(`${record.eventName} ${record.s3.object.key}`);
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  // s3rver accepts only its own fixed key pair.
  const credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
  return {
    env: { S3_ENDPOINT: endpoint, S3_BUCKET: bucket, S3_REGION: "us-east-1", S3_ACCESS_KEY_ID: credentials.accessKeyId, S3_SECRET_ACCESS_KEY: credentials.secretAccessKey, S3_FORCE_PATH_STYLE: "true" },
    bucket,
    endpoint,
    config: { endpoint, bucket, region: "us-east-1", forcePathStyle: true, credentials },
    directory,
    events,
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
