import { createHash } from "node:crypto";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { azora } from "./helpers/in-process-cli.ts";
import { makeDataDir } from "./helpers/platform.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

// Archiving moves files from LOG_DIR to S3; the database plays no part: one backend.
describe("azora logs archive --to s3://…", () => {
  let s3: TestS3;
  let dataDir: string;
  let logDir: string;
  beforeAll(async () => {
    s3 = await startS3("azora-logs");
    dataDir = await makeDataDir();
    logDir = join(dataDir, "logs");
    await mkdir(logDir, { recursive: true });
  });
  afterAll(async () => {
    await s3?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("uploads closed files, verifies them, deletes them locally only then, and leaves the open logs alone", async () => {
    const rotated = { "api.log.20261128T000000Z.gz": gzipSync("api line\n".repeat(500)), "auth.log-20261128-1.gz": gzipSync("auth line\n") };
    for (const [name, bytes] of Object.entries(rotated)) await writeFile(join(logDir, name), bytes);
    await writeFile(join(logDir, "api.log"), "still being written\n");
    // An installation, so the archive's audit row has a database to go to.
    const installed = await azora(["migrate"], { DATA_DIR: dataDir });
    expect(installed.code, installed.stderr).toBe(0);
    const archiveRows = async () =>
      (JSON.parse((await azora(["audit", "tail", "-n", "50", "--json"], { DATA_DIR: dataDir })).stdout) as { action: string; target: string; details: { files: { file: string; status: string }[] } }[]).filter((row) => row.action === "logs.archive");

    const dry = await azora(["logs", "archive", "--to", `s3://${s3.bucket}/archive`, "--dry-run", "--json"], { DATA_DIR: dataDir, ...s3.env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout).files.map((file: { status: string }) => file.status)).toEqual(["would archive", "would archive"]);
    // The installation opened its own auth.log and security.log beside them: open logs are never archived.
    const closed = async () => (await readdir(logDir)).filter((name) => name.endsWith(".gz")).sort();
    expect(await closed()).toEqual(Object.keys(rotated).sort());
    expect(await readdir(logDir)).toContain("api.log");

    const run = await azora(["logs", "archive", "--to", `s3://${s3.bucket}/archive/`, "--json"], { DATA_DIR: dataDir, ...s3.env });
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.files.map((file: { status: string }) => file.status)).toEqual(["archived", "archived"]);
    expect(await closed()).toEqual([]);
    expect((await readdir(logDir)).sort()).toEqual(["api.log", "auth.log", "security.log"]);
    // Deleting local copies is destructive: the run (not the dry run) is in the audit log, file by file.
    const rows = await archiveRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.target).toBe(`s3://${s3.bucket}/archive`);
    expect(rows[0]!.details.files.map((file) => [file.file, file.status]).sort()).toEqual(Object.keys(rotated).map((name) => [name, "archived"]).sort());

    const client = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    for (const [name, bytes] of Object.entries(rotated)) {
      const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `archive/${hostname()}/${name}` }));
      const stored = Buffer.from(await object.Body!.transformToByteArray());
      expect(createHash("sha256").update(stored).digest("hex")).toBe(createHash("sha256").update(bytes).digest("hex"));
    }
    client.destroy();
  });

  it("leaves a rotation logrotate is still compressing alone: its .gz beside the plain copy is neither uploaded nor deleted", async () => {
    // logrotate writes X.gz beside X and unlinks X when done: until then the .gz is half-written. Uploading it
    // would store a torn copy, and deleting it would lose the rotation's lines once logrotate unlinks X.
    const plain = "auth.log-20261129-1764410400";
    await writeFile(join(logDir, plain), "auth line\n".repeat(200));
    await writeFile(join(logDir, `${plain}.gz`), gzipSync("auth line\n".repeat(200)).subarray(0, 20));
    const run = await azora(["logs", "archive", "--to", `s3://${s3.bucket}/archive`, "--json"], { DATA_DIR: dataDir, ...s3.env });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).files).toEqual([]);
    expect(await readdir(logDir)).toEqual(expect.arrayContaining([plain, `${plain}.gz`]));
    await rm(join(logDir, plain));
    await rm(join(logDir, `${plain}.gz`));
  });

  it("keeps the local copies when the upload cannot be verified (a bucket that does not exist), exit 1", async () => {
    await writeFile(join(logDir, "security.log.20261128T000000Z.gz"), gzipSync("security line\n"));
    const run = await azora(["logs", "archive", "--to", "s3://no-such-bucket/x"], { DATA_DIR: dataDir, ...s3.env });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/failed security\.log\.20261128T000000Z\.gz .*kept locally/);
    expect(await readdir(logDir)).toContain("security.log.20261128T000000Z.gz");
  });

  it("refuses a URL that is not s3://bucket/prefix with exit 2", async () => {
    for (const url of ["https://bucket/x", "s3://", "s3://UPPER/x", "bucket/prefix"]) {
      const run = await azora(["logs", "archive", "--to", url], { DATA_DIR: dataDir, ...s3.env });
      expect(run.code, url).toBe(2);
      expect(run.stderr).toContain("is not an S3 URL");
    }
    const missing = await azora(["logs", "archive"], { DATA_DIR: dataDir });
    expect(missing.code).toBe(2);
  });
});
