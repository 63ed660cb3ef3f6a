import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import type { Config } from "../../platform/config.ts";
import { streamLogFiles } from "../../platform/log-file-names.ts";
import { LOG_STREAMS } from "./rotate.ts";

/** An s3://bucket/prefix destination. */
export interface S3Target {
  bucket: string;
  prefix: string;
}

/** Parses s3://bucket[/prefix]; a message saying what is wrong otherwise. */
export function parseS3Url(text: string): S3Target | string {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/.*)?$/.exec(text);
  if (!match) return `"${text}" is not an S3 URL: write s3://bucket/prefix (bucket: 3-63 lower-case letters, digits, dots, hyphens).`;
  const prefix = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
  return { bucket: match[1] ?? "", prefix };
}

/** A rotated, compressed log file: closed for good (ours: api.log.<time>.gz; logrotate's: api.log-<date>.gz, api.log.1.gz). */
const closedLog = /^(api|auth|security)\.log[.-][^/]+\.gz$/;

export interface ArchivedFile {
  file: string;
  key: string;
  bytes: number;
  sha256: string;
  /** Verified in the bucket (size and checksum) and then deleted here. */
  status: "archived" | "failed" | "would archive";
  error?: string;
}

async function digest(path: string, algorithm: "sha256" | "md5"): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function streamDigest(body: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

function s3Client(config: Config): S3Client {
  const s3 = config.s3;
  return new S3Client({
    region: s3?.region ?? "us-east-1",
    forcePathStyle: s3?.forcePathStyle ?? true,
    ...(s3?.endpoint ? { endpoint: s3.endpoint } : {}),
    ...(s3?.credentials ? { credentials: s3.credentials } : {}),
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
    maxAttempts: 3,
    // As for blobs (blobs/s3.ts): S3-compatible stores refuse streaming-trailer checksums; we check our own.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/**
 * Uploads one file, then proves the object is the file: its size, and its SHA-256 read back (the
 * ETag is an MD5 only for some uploads and stores, so it is not trusted alone). Deletes locally only then.
 */
async function archiveOne(client: S3Client, target: S3Target, dir: string, file: string, dryRun: boolean): Promise<ArchivedFile> {
  const path = join(dir, file);
  const key = [target.prefix, hostname(), file].filter(Boolean).join("/");
  const { size } = await stat(path);
  const sha256 = await digest(path, "sha256");
  const entry = { file, key, bytes: size, sha256 };
  if (dryRun) return { ...entry, status: "would archive" };
  try {
    await client.send(
      new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: createReadStream(path), ContentLength: size, ContentType: "application/gzip", Metadata: { sha256 } }),
    );
    const head = await client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }));
    if (head.ContentLength !== size) throw new Error(`the stored object has ${head.ContentLength ?? "?"} bytes, the file ${size}`);
    const stored = await client.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
    const readBack = await streamDigest(stored.Body as Readable);
    if (readBack.sha256 !== sha256 || readBack.bytes !== size) throw new Error("the stored object's SHA-256 differs from the file's");
  } catch (error) {
    return { ...entry, status: "failed", error: describeS3Error(error) };
  }
  await rm(path);
  return { ...entry, status: "archived" };
}

function describeS3Error(error: unknown): string {
  const named = error as { name?: string; message?: string; code?: string };
  if (named.code === "ECONNREFUSED") return "the S3 endpoint refused the connection";
  return `${named.name ?? "Error"}: ${named.message ?? String(error)}`;
}

/**
 * Uploads every closed log file to the bucket; each is deleted locally only once its copy is verified. A
 * rotation logrotate is still compressing (its X.gz beside X) is not closed yet: the shared discovery leaves
 * that .gz out, as it does for the readers, and the next run archives it.
 */
export async function archiveLogs(config: Config, target: S3Target, options: { dryRun: boolean }): Promise<ArchivedFile[]> {
  const files: string[] = [];
  for (const stream of LOG_STREAMS) files.push(...(await streamLogFiles(config.paths.logs, stream)).filter((name) => closedLog.test(name)));
  files.sort();
  if (files.length === 0) return [];
  const client = s3Client(config);
  try {
    const results: ArchivedFile[] = [];
    for (const file of files) results.push(await archiveOne(client, target, config.paths.logs, file, options.dryRun));
    return results;
  } finally {
    client.destroy();
  }
}
