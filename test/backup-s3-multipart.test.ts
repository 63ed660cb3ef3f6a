import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, request, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../src/ops/backup/manifest.ts";
import { remoteLocation, uploadBackup, verifyRemoteBackup } from "../src/ops/backup/s3-backups.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

/**
 * A connection to the bucket that breaks: every request passes through to s3rver except those `breaks` picks,
 * whose connection is cut before an answer (as when the bucket's endpoint goes away mid-upload). Records each
 * request as "METHOD URL".
 */
async function startBreakingProxy(target: string, breaks: (req: IncomingMessage) => boolean): Promise<{ endpoint: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (breaks(req)) {
      req.socket.destroy();
      return;
    }
    // Host is passed on unchanged: the request is signed for it.
    const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A backup directory holding a dump of `bytes` random bytes, and its manifest. */
async function writeBackup(root: string, id: string, bytes: number): Promise<{ dir: string; manifest: Manifest }> {
  const backupDir = join(root, id);
  await mkdir(backupDir);
  const dump = randomBytes(bytes);
  await writeFile(join(backupDir, "database.pgdump"), dump);
  const manifest: Manifest = {
    format: 1,
    id,
    kind: "full",
    createdAt: "2026-11-29T12:00:00.000Z",
    appVersion: "test",
    engine: "postgres",
    dump: { file: "database.pgdump", format: "pg_dump-custom", gzip: false },
    schemaVersion: "",
    tables: [],
    files: [{ name: "database.pgdump", bytes: dump.length, sha256: createHash("sha256").update(dump).digest("hex") }],
    encryption: null,
    sizeBytes: dump.length,
    durationSeconds: 0,
    keep: false,
  };
  await writeFile(join(backupDir, "manifest.json"), JSON.stringify(manifest));
  return { dir: backupDir, manifest };
}

/** A database dump larger than one part reaches the bucket as a multipart upload (a PutObject stops at 5 GiB). */
describe("backup copies to S3 in parts", () => {
  let s3: TestS3;
  let dir: string;
  beforeAll(async () => {
    s3 = await startS3();
    dir = await mkdtemp(join(tmpdir(), "azora-multipart-"));
  });
  afterAll(async () => {
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("sends a dump above the part size in several parts, the manifest in one, and the bucket's copy verifies byte for byte", async () => {
    const id = "20261129T120000Z-full-abc123";
    // 1.5 MiB of random bytes with a part size of 256 KiB: six full parts and a short last one.
    const { dir: backupDir, manifest } = await writeBackup(dir, id, 1.5 * 1024 * 1024 + 12_345);
    const config = s3.config;

    const location = await uploadBackup(config, { dir: backupDir, manifest }, { partBytes: 256 * 1024 });
    expect(location).toBe(remoteLocation(config, id));
    expect(s3.events).toEqual([`ObjectCreated:Post backups/database/${id}/database.pgdump`, `ObjectCreated:Put backups/database/${id}/manifest.json`]);
    expect(await verifyRemoteBackup(config, { manifest, location })).toEqual([]);
    // No upload is left open in the bucket (s3rver keeps each open one in a directory under ._S3rver_uploads).
    const uploads = await readdir(join(s3.directory, s3.bucket, "._S3rver_uploads")).catch(() => [] as string[]);
    expect(uploads).toEqual([]);
  }, 120_000);

  it("an upload whose connection breaks at a part fails the copy and aborts the multipart upload, never completing it", async () => {
    const id = "20261129T130000Z-full-def456";
    const { dir: backupDir, manifest } = await writeBackup(dir, id, 1024 * 1024);
    // The third part never gets through (each retry of it is cut too).
    const proxy = await startBreakingProxy(s3.endpoint, (req) => req.method === "PUT" && /[?&]partNumber=3(&|$)/.test(req.url ?? ""));
    try {
      const config = { ...s3.config, endpoint: proxy.endpoint };
      await expect(uploadBackup(config, { dir: backupDir, manifest }, { partBytes: 256 * 1024 })).rejects.toThrow();
      const key = `/${s3.bucket}/backups/database/${id}/database.pgdump`;
      const started = proxy.requests.find((line) => line.startsWith(`POST ${key}?uploads`));
      expect(started, proxy.requests.join("\n")).toBeDefined();
      const uploadId = /uploadId=([^&]+)/.exec(proxy.requests.find((line) => line.startsWith(`PUT ${key}?`)) ?? "")?.[1];
      expect(uploadId, proxy.requests.join("\n")).toBeDefined();
      // Aborted (DELETE with its upload id), never completed (POST with it), and nothing after the failed file.
      expect(proxy.requests.filter((line) => line.startsWith("DELETE ") && line.includes(`uploadId=${uploadId}`)), proxy.requests.join("\n")).toHaveLength(1);
      expect(proxy.requests.filter((line) => line.startsWith("POST ") && line.includes(`uploadId=${uploadId}`))).toEqual([]);
      expect(proxy.requests.filter((line) => line.includes("manifest.json"))).toEqual([]);
      expect(s3.events.filter((event) => event.includes(id))).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it("a part whose connection breaks once is sent again and the copy completes whole", async () => {
    const id = "20261129T140000Z-full-0a1b2c";
    const { dir: backupDir, manifest } = await writeBackup(dir, id, 1024 * 1024);
    // The third part's first attempt is cut; the next one gets through.
    let attempts = 0;
    const proxy = await startBreakingProxy(s3.endpoint, (req) => req.method === "PUT" && /[?&]partNumber=3(&|$)/.test(req.url ?? "") && ++attempts === 1);
    try {
      const config = { ...s3.config, endpoint: proxy.endpoint };
      const location = await uploadBackup(config, { dir: backupDir, manifest }, { partBytes: 256 * 1024 });
      expect(attempts).toBe(2);
      expect(await verifyRemoteBackup({ ...config, endpoint: s3.endpoint }, { manifest, location })).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});

