import { readdir, readFile } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupFullCommand } from "../src/ops/backup.ts";
import { databaseOf } from "../src/ops/backup/postgres-engine.ts";
import { recoverInterruptedRestore } from "../src/ops/backup/restore-maintenance.ts";
import { createMaintenanceRepository } from "../src/services/gateway/maintenance.repository.ts";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { cliEnv, dropRestoreLeftovers } from "./helpers/backup.ts";
import { spawnCli } from "./helpers/cli.ts";
import { captureIO } from "./helpers/gdpr.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";

/**
 * `azora restore` stopped while its pg_restore loads the copy (PostgreSQL, where the restore runs in the CLI's
 * own process). The backup holds a table whose check constraint sleeps for every row, so its load alone would
 * last minutes: a pg_restore still there long after the stop is one the stop did not reach.
 */
describe.each(backends().filter((backend) => backend.name !== "embedded"))("a restore stopped during its load ($name)", (backend) => {
  let platform: TestPlatform;
  const slow = 400_000;
  /** Far less than the slow table's load (600 rows × 0.2 s), far more than stopping a process takes. */
  const stopWithinMs = 30_000;

  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: platform.config.database.url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    platform = await startTestPlatform(backend);
  }, slow);
  afterAll(async () => {
    if (platform) await dropRestoreLeftovers(platform);
    await platform?.stop();
  });

  /** The pg_restore processes loading into this installation's scratch copies, by the database their argv names. */
  const pgRestoresOfThisInstallation = async (): Promise<number[]> => {
    const scratch = `--dbname=${databaseOf(platform.config.database.url ?? "")}_restore_`;
    const found: number[] = [];
    for (const entry of await readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).split("\0");
      if (argv[0]?.endsWith("pg_restore") && argv.some((arg) => arg.startsWith(scratch))) found.push(Number(entry));
    }
    return found;
  };
  const waitUntil = async (what: string, done: () => Promise<boolean>, withinMs: number) => {
    const deadline = Date.now() + withinMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`not so after ${withinMs} ms: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const slowBackup = async (): Promise<string> => {
    // Slow only for pg_restore (which names itself in application_name): the backup and this setup are not held up.
    await admin("CREATE FUNCTION restore_probe_slow(n int) RETURNS boolean LANGUAGE sql AS $$ SELECT pg_sleep(CASE WHEN current_setting('application_name') = 'pg_restore' THEN 0.2 ELSE 0 END) IS NOT NULL $$");
    await admin("CREATE TABLE restore_probe (n int CHECK (restore_probe_slow(n))); INSERT INTO restore_probe SELECT generate_series(1, 600)");
    try {
      const io = captureIO();
      expect(await backupFullCommand.run(platform.running.context, { kind: "full", json: true }, io), io.errText()).toBe(0);
      return (JSON.parse(io.outText()) as { id: string }).id;
    } finally {
      await admin("DROP TABLE restore_probe; DROP FUNCTION restore_probe_slow(int)");
    }
  };

  it("SIGTERM: pg_restore is stopped, the copy dropped, the previous database serves and writes work again", async () => {
    const id = await slowBackup();
    const api = apiClient(platform.baseUrl);
    const user = await api.newUser("stays");
    const restore = spawnCli(["restore", id, "--yes"], cliEnv(platform));
    await waitUntil("pg_restore is loading the copy", async () => (await pgRestoresOfThisInstallation()).length > 0, 120_000);

    restore.child.kill("SIGTERM");
    const exit = await restore.exited;
    expect(exit.code, restore.stderr()).toBe(143);
    expect(restore.stderr()).toMatch(/the restore was stopped before its copy was swapped in: the previous database serves and nothing was changed/);
    expect(await pgRestoresOfThisInstallation()).toEqual([]);
    // Dropped by the stopped restore itself, not by a later cleanup.
    expect((await dropRestoreLeftovers(platform)).filter((name) => name.includes("_restore_"))).toEqual([]);
    expect((await createMaintenanceRepository(platform.running.context.db).read()).enabled).toBe(false);
    expect((await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "writes work" } })).status).toBe(201);
  }, slow);

  it("SIGKILL: its pg_restore does not outlive it", async () => {
    const id = await slowBackup();
    const restore = spawnCli(["restore", id, "--yes"], cliEnv(platform));
    await waitUntil("pg_restore is loading the copy", async () => (await pgRestoresOfThisInstallation()).length > 0, 120_000);

    restore.child.kill("SIGKILL");
    await restore.exited;
    await waitUntil("no pg_restore of this installation runs", async () => (await pgRestoresOfThisInstallation()).length === 0, stopWithinMs);
    // The copy it leaves and the maintenance flag are the next start's or restore's to undo (backup-restore-killed).
    expect(await recoverInterruptedRestore(platform.running.context, { atStart: false })).toMatch(/was interrupted; the previous database serves/);
  }, slow);
});
