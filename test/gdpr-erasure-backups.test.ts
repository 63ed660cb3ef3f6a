import { randomBytes } from "node:crypto";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { platformCommands } from "../src/ops/commands.ts";
import { listContentBackups } from "../src/ops/backup/content-backup.ts";
import { startPlatform, type RunningPlatform } from "../src/runtime.ts";
import type { Config } from "../src/platform/config.ts";
import { apiClient } from "./helpers/api.ts";
import { downloadFile, uploadFile } from "./helpers/attachments.ts";
import { backends } from "./helpers/backends.ts";
import { cliEnv, dropRestoreLeftovers, runScript } from "./helpers/backup.ts";
import { runCli } from "./helpers/cli.ts";
import { makeDataDir, prepareDataDir, testConfig, type TestPlatform } from "./helpers/platform.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

const slow = 600_000;
// The embedded default keeps files and content backups locally; PostgreSQL + Redis keeps both in S3 (s3rver).
const runs = backends().map((backend) => ({ name: backend.name === "embedded" ? "embedded, local files" : `${backend.name}, S3`, backend, s3: backend.name !== "embedded" }));

/** Every file under dir whose raw bytes contain the needle. */
async function filesWithBytes(dir: string, needle: Buffer): Promise<string[]> {
  const hits: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await readFile(path).catch(() => Buffer.alloc(0))).includes(needle)) hits.push(path);
  }
  return hits;
}

/** Erasure reaches the backups of files: the content pool keeps none of the erased person's bytes (ADR 0332). */
describe.each(runs)("GDPR erasure and the content backups ($name)", ({ backend, s3: useS3 }) => {
  let s3: TestS3 | undefined;
  let config: Config;
  let running: RunningPlatform;
  let dispose: () => Promise<void>;
  let env: Record<string, string>;
  const key = "e".repeat(40);
  const api = () => apiClient(running.urls.gateway ?? "");

  beforeAll(async () => {
    s3 = useS3 ? await startS3() : undefined;
    const provisioned = await backend.provision();
    dispose = provisioned.dispose;
    config = testConfig({ DATA_DIR: await makeDataDir(), ...provisioned.env, ...s3?.env, BACKUP_KEY: key });
    await prepareDataDir(config);
    running = await startPlatform(config, { roles: ["gateway", "auth", "users"], commands: platformCommands });
    env = cliEnv({ config, dataDir: config.dataDir } as Parameters<typeof cliEnv>[0], { BACKUP_KEY: key, ...s3?.env });
  }, slow);
  afterAll(async () => {
    await running?.stop();
    await dropRestoreLeftovers({ config } as TestPlatform);
    await dispose?.();
    await rm(config.dataDir, { recursive: true, force: true });
    await s3?.stop();
  });

  it("after gdpr delete, the person's file bytes are nowhere under DATA_DIR nor in the bucket, and restoring older backups does not bring them back", async () => {
    const gateway = running.urls.gateway ?? "";
    const person = await api().newUser("leaving");
    const stays = await api().newUser("staying");
    const upload = async (owner: { accessToken: string }, bytes: Buffer, filename: string) => {
      const content = (await api().call("POST", "/api/content", { token: owner.accessToken, json: { title: filename } })).body;
      const attachment = (await uploadFile(gateway, owner.accessToken, content.id, { bytes, filename })).body;
      return `/api/content/${content.id}/attachments/${attachment.id}`;
    };
    // Random bytes, so a hit anywhere can only be a copy of this file.
    const secret = Buffer.concat([Buffer.from("erase-me "), randomBytes(96)]);
    const shared = Buffer.concat([Buffer.from("both of us "), randomBytes(96)]);
    const kept = Buffer.concat([Buffer.from("keep-me "), randomBytes(96)]);
    await upload(person, secret, "secret.bin");
    await upload(person, shared, "shared.bin");
    const sharedPath = await upload(stays, shared, "shared.bin");
    const keptPath = await upload(stays, kept, "kept.bin");

    const content = await runScript("backup/content-backup.sh", ["--json"], env);
    expect(content.code, content.stderr).toBe(0);
    const full = await runScript("backup/database-backup.sh", ["full", "--json"], env);
    expect(full.code, full.stderr).toBe(0);
    const places = () => [config.dataDir, ...(s3 ? [s3.directory] : [])];
    const holding = async (bytes: Buffer) => (await Promise.all(places().map((dir) => filesWithBytes(dir, bytes)))).flat();
    // Before the erasure the file is in the live store and in the content pool.
    expect((await holding(secret)).length).toBeGreaterThanOrEqual(2);

    const erased = await runScript("scripts/gdpr-data-deletion.sh", [person.email, "--yes", "--json"], env);
    expect(erased.code, erased.stderr).toBe(0);
    expect(JSON.parse(erased.stdout)).toMatchObject({ backupBlobs: 1 });
    expect(await holding(secret)).toEqual([]);
    // The content manifests no longer name it; bytes another person also uploaded stay theirs, in the pool too.
    const { createHash } = await import("node:crypto");
    const sha = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
    const manifests = await listContentBackups({ config });
    expect(manifests.flatMap((manifest) => manifest.blobs.map((blob) => blob.key))).not.toContain(sha(secret));
    expect(manifests.flatMap((manifest) => manifest.blobs.map((blob) => blob.key))).toEqual(expect.arrayContaining([sha(shared), sha(kept)]));

    // Restoring the database backup taken before the erasure, then the content backup: the person stays gone.
    const restored = await runScript("backup/database-restore.sh", ["latest", "--yes"], env);
    expect(restored.code, restored.stderr).toBe(0);
    const contentRestore = await runCli(["restore", "content", "latest", "--yes"], env);
    expect(contentRestore.code, contentRestore.stderr).toBe(0);
    expect(await holding(secret)).toEqual([]);
    expect((await api().call("POST", "/api/auth/login", { json: { email: person.email, password: person.password } })).status).toBe(401);
    for (const path of [sharedPath, keptPath]) {
      const download = await downloadFile(gateway, stays.accessToken, path);
      expect(download.status).toBe(200);
    }
    expect((await downloadFile(gateway, stays.accessToken, keptPath)).bytes.equals(kept)).toBe(true);
    // A later content backup and prune find nothing of the person to keep.
    expect((await runScript("backup/content-backup.sh", ["--json"], env)).code).toBe(0);
    expect((await runCli(["backup", "prune-content", "--json"], env)).code).toBe(0);
    expect(await holding(secret)).toEqual([]);
  }, slow);
});
