import { randomUUID } from "node:crypto";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { platformCommands } from "../src/ops/commands.ts";
import { listContentBackups, openContentPool } from "../src/ops/backup/content-backup.ts";
import { stageBlob } from "../src/platform/blobs/staging.ts";
import { startPlatform, type RunningPlatform } from "../src/runtime.ts";
import type { Config } from "../src/platform/config.ts";
import { apiClient, metricValue } from "./helpers/api.ts";
import { downloadFile, pngBytes, uploadFile } from "./helpers/attachments.ts";
import { backends } from "./helpers/backends.ts";
import { cliEnv, runScript } from "./helpers/backup.ts";
import { runCli } from "./helpers/cli.ts";
import { azora } from "./helpers/in-process-cli.ts";
import { makeDataDir, prepareDataDir, testConfig } from "./helpers/platform.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

const slow = 400_000;
// The embedded default keeps files locally; PostgreSQL + Redis runs with files and content backups in S3 (s3rver).
const runs = backends().map((backend) => ({ name: backend.name === "embedded" ? "embedded, local files" : `${backend.name}, S3`, backend, s3: backend.name !== "embedded" }));

// Each command shape runs at least once as a real process through its wrapper or `azora` (argument parsing, exit
// code, output); its repeats run the same entry point in this process, which spares a CLI start (a second of CPU
// and several of wall on a busy machine) each. On the embedded default both hand the command to the running
// platform through its ops port alike.

/** The wrappers' help names no installation: asked once, not once per backend. */
describe("config and content backup wrappers", () => {
  it("answer --help", async () => {
    for (const [script, words] of [
      ["backup/config-backup.sh", "encrypted"],
      ["backup/config-restore.sh", "restore config"],
      ["backup/content-backup.sh", "only files the previous content backup lacks"],
    ] as const) {
      const help = await runScript(script, ["--help"], {});
      expect(help.code, script).toBe(0);
      expect(help.stdout.replace(/\s+/g, " "), script).toContain(words);
    }
  }, slow);
});

/** The guide's config and content backups: secrets come back (old tokens verify), every attachment comes back byte-equal. */
describe.each(runs)("config and content backups ($name)", ({ backend, s3: useS3 }) => {
  let s3: TestS3 | undefined;
  let config: Config;
  let running: RunningPlatform;
  let dispose: () => Promise<void>;
  let env: Record<string, string>;
  const key = "c".repeat(40);
  const start = () => startPlatform(config, { roles: ["gateway", "auth", "users"], commands: platformCommands });
  const api = () => apiClient(running.urls.gateway ?? "");

  beforeAll(async () => {
    s3 = useS3 ? await startS3() : undefined;
    const provisioned = await backend.provision();
    dispose = provisioned.dispose;
    // No AZORA_MASTER_KEY: the master key is generated into DATA_DIR/secrets, as on a fresh embedded install.
    config = testConfig({ DATA_DIR: await makeDataDir(), ...provisioned.env, ...s3?.env, BACKUP_KEY: key });
    await prepareDataDir(config);
    running = await start();
    env = cliEnv({ config, dataDir: config.dataDir } as Parameters<typeof cliEnv>[0], { BACKUP_KEY: key, ...s3?.env });
  }, slow);
  afterAll(async () => {
    await running?.stop();
    await dispose?.();
    await rm(config.dataDir, { recursive: true, force: true });
    await s3?.stop();
  });

  it("content backup copies only new files; content restore brings every attachment back byte-equal", async () => {
    const owner = await api().newUser("files");
    const content = (await api().call("POST", "/api/content", { token: owner.accessToken, json: { title: "with files" } })).body;
    const upload = async (n: number) => {
      const bytes = Buffer.concat([pngBytes(), Buffer.from(`file ${n} `.repeat(200))]);
      const attachment = (await uploadFile(running.urls.gateway ?? "", owner.accessToken, content.id, { bytes, filename: `f${n}.png` })).body;
      return { bytes, path: `/api/content/${content.id}/attachments/${attachment.id}` };
    };
    const files = [await upload(1), await upload(2)];

    const first = await runScript("backup/content-backup.sh", ["--json"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ blobs: 2, copied: 2, destination: useS3 ? "s3" : "local" });
    files.push(await upload(3));
    const second = await azora(["backup", "content", "--json"], env);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ blobs: 3, copied: 1 });

    // The files are lost (a disk, a bucket): every one is gone from the live store.
    const stored: string[] = [];
    for await (const blob of running.context.blobs.list()) stored.push(blob);
    for (const blob of stored) await running.context.blobs.delete(blob);
    expect((await downloadFile(running.urls.gateway ?? "", owner.accessToken, files[0]?.path ?? "")).status).not.toBe(200);

    const restored = await runCli(["restore", "content", "latest", "--yes"], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/3 files copied back/);
    for (const file of files) {
      const download = await downloadFile(running.urls.gateway ?? "", owner.accessToken, file.path);
      expect(download.status).toBe(200);
      expect(download.bytes.equals(file.bytes)).toBe(true);
    }
  }, slow);

  it("prune-content removes only pool files no content backup names: --dry-run lists them, the run is audited, a damaged manifest refuses", async () => {
    // A file in the pool that no manifest names, as an interrupted content backup leaves one.
    const pool = await openContentPool({ config });
    let orphan: string;
    try {
      const staged = await stageBlob(Readable.from([Buffer.from(`left by an interrupted content backup ${randomUUID()}`)]), pool.stagingDir);
      orphan = staged.key;
      await pool.put(staged.key, staged.path);
    } finally {
      await pool.close();
    }
    const named = (await listContentBackups({ config }))[0]?.blobs.length ?? 0;
    expect(named).toBeGreaterThan(0);
    const inPool = async (key: string) => {
      const store = await openContentPool({ config });
      try {
        return await store.has(key);
      } finally {
        await store.close();
      }
    };

    const dry = await runCli(["backup", "prune-content", "--dry-run", "--json"], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual({ dryRun: true, expired: [], unreferenced: [orphan], kept: named });
    expect(await inPool(orphan)).toBe(true);

    // A manifest that cannot be read: which files it names is unknown, so nothing is removed.
    const damaged = join(config.paths.backups, "content", "20261129T000000Z-content-000000.json");
    await writeFile(damaged, "{ broken");
    const refused = await azora(["backup", "prune-content"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${damaged}`);
    expect(await inPool(orphan)).toBe(true);
    await rm(damaged);

    const pruned = await azora(["backup", "prune-content", "--json"], env);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout)).toEqual({ dryRun: false, expired: [], unreferenced: [orphan], kept: named });
    expect(await inPool(orphan)).toBe(false);
    // The second content backup of the first test expired the first (same hour): that retention is audited too.
    const audit = await running.context.db.query<{ actor: string; details: { expired: string[]; removed: number; kept: number } }>("SELECT actor, details FROM audit_log WHERE action = 'backup.content.prune' ORDER BY seq");
    expect(audit.map((row) => row.details).at(-1)).toEqual({ expired: [], removed: 1, kept: named });
    const again = await azora(["backup", "prune-content", "--json"], env);
    expect(JSON.parse(again.stdout)).toEqual({ dryRun: false, expired: [], unreferenced: [], kept: named });
  }, slow);

  it("retention expires content manifests past BACKUP_KEEP_DAILY, and the files only they named leave the pool", async () => {
    // A content backup from ten days ago (past the default 7 days) naming a file no later backup names.
    const pool = await openContentPool({ config });
    let old: string;
    try {
      const staged = await stageBlob(Readable.from([Buffer.from(`an attachment deleted long ago ${randomUUID()}`)]), pool.stagingDir);
      old = staged.key;
      await pool.put(staged.key, staged.path);
    } finally {
      await pool.close();
    }
    const tenDaysAgo = new Date(Date.now() - 10 * 24 * 3_600_000);
    const oldId = `${tenDaysAgo.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-content-0a0b0c`;
    await mkdir(join(config.paths.backups, "content"), { recursive: true });
    const oldManifest = join(config.paths.backups, "content", `${oldId}.json`);
    await writeFile(oldManifest, JSON.stringify({ id: oldId, createdAt: tenDaysAgo.toISOString(), destination: useS3 ? "s3" : "local", blobs: [{ key: old, bytes: 10 }], copied: 1 }));
    const inPool = async (key: string) => {
      const store = await openContentPool({ config });
      try {
        return await store.has(key);
      } finally {
        await store.close();
      }
    };
    const newest = (await listContentBackups({ config }))[0];

    const dry = await azora(["backup", "prune-content", "--dry-run", "--json"], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, expired: [oldId], unreferenced: [old] });
    expect(await inPool(old)).toBe(true);
    const text = await azora(["backup", "prune-content", "--dry-run"], env);
    expect(text.stdout).toContain(`Dry run: retention would remove 1 content backup(s) past BACKUP_KEEP_DAILY / BACKUP_KEEP_HOURLY:\n  ${oldId}`);

    // The next content backup applies retention itself: the old manifest and its file go, the newest stays.
    const taken = await azora(["backup", "content", "--json"], env);
    expect(taken.code, taken.stderr).toBe(0);
    const result = JSON.parse(taken.stdout) as { id: string; expired: string[]; removed: number };
    expect(result.expired).toEqual(expect.arrayContaining([oldId, newest?.id]));
    expect(result.removed).toBe(1);
    expect(await inPool(old)).toBe(false);
    expect((await listContentBackups({ config })).map((manifest) => manifest.id)).toEqual([result.id]);
    // Every file the remaining backup names is still in the pool: a restore brings them all back.
    for (const blob of (await listContentBackups({ config }))[0]?.blobs ?? []) expect(await inPool(blob.key)).toBe(true);
    const audit = await running.context.db.query<{ details: { expired: string[]; removed: number } }>("SELECT details FROM audit_log WHERE action = 'backup.content.prune' ORDER BY seq");
    expect(audit.at(-1)?.details).toMatchObject({ expired: expect.arrayContaining([oldId]), removed: 1 });
  }, slow);

  it("config backup refuses without a key; config restore brings the secrets back and a token signed before still verifies", async () => {
    const withoutKey = await azora(["backup", "config"], Object.fromEntries(Object.entries(env).filter(([name]) => name !== "BACKUP_KEY")));
    expect(withoutKey.code).toBe(2);
    expect(withoutKey.stderr).toMatch(/hold secrets and are always encrypted: set BACKUP_KEY/);

    const user = await api().newUser("keys");
    const taken = await runScript("backup/config-backup.sh", ["--json"], env);
    expect(taken.code, taken.stderr).toBe(0);
    expect(JSON.parse(taken.stdout).files).toContain("secrets/master.key");

    // The machine's secrets are lost while the platform is down.
    await running.stop();
    await rm(config.paths.secrets, { recursive: true, force: true });
    const wrongKey = await azora(["restore", "config", "latest", "--yes"], { ...env, BACKUP_KEY: "w".repeat(40) });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/encrypted with another key: set BACKUP_KEY/);
    expect(await readdir(config.paths.secrets).catch(() => [])).toEqual([]);

    const restored = await runScript("backup/config-restore.sh", ["latest", "--yes"], env);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/Restored config backup \S+-config-\S+: .*secrets\/master\.key/);
    running = await start();
    expect((await api().get("/api/auth/me", user.accessToken)).status).toBe(200);
    expect((await api().call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } })).status).toBe(200);
    expect(await readdir(join(config.dataDir, "secrets"))).toContain("master.key");
  }, slow);

  it("publishes the config and content backups in the backup gauges, each under its own kind", async () => {
    const metrics = await (await fetch(new URL("/metrics", running.urls.ops))).text();
    const now = Date.now() / 1000;
    for (const kind of ["config", "content"]) {
      expect(now - metricValue(metrics, "azora_backup_last_success_timestamp_seconds", { kind }), kind).toBeLessThan(3600);
      expect(metricValue(metrics, "azora_backup_size_bytes", { kind }), kind).toBeGreaterThan(0);
      expect(metricValue(metrics, "azora_backup_duration_seconds", { kind }), kind).toBeGreaterThanOrEqual(0);
    }
    // No database backup was taken here: the database kinds have no series, so BackupStale's no-backup clause
    // (database kinds only) is what would watch this platform.
    expect(metrics).not.toMatch(/azora_backup_last_success_timestamp_seconds\{[^}]*kind="full"/);
  }, slow);
});
