import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, databaseOf, dropDatabase, scratchName } from "../src/ops/backup/postgres-engine.ts";
import { dropAbandonedScratchDatabases, isScratchName, leaseScratchDatabase } from "../src/ops/backup/scratch-databases.ts";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { cliEnv, dropRestoreLeftovers, runScript } from "./helpers/backup.ts";
import { eventually } from "./helpers/free-port.ts";
import { runCli, spawnCli } from "./helpers/cli.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";

const postgres = backends().find((backend) => backend.name === "postgres+redis");
const slow = 400_000;

/**
 * On PostgreSQL a restore or drill loads the backup into a scratch database beside the live one. A killed
 * restore leaves it behind; the next restore, drill or start drops it, but never one a running restore holds.
 */
describe.runIf(postgres)("scratch databases left by a killed restore (postgres+redis)", () => {
  let platform: TestPlatform;
  let url: string;
  let live: string;

  const databases = async () => {
    const admin = new URL(url);
    admin.pathname = "/postgres";
    const client = new pg.Client({ connectionString: admin.href });
    await client.connect();
    try {
      return (await client.query<{ datname: string }>("SELECT datname FROM pg_database")).rows.map((row) => row.datname);
    } finally {
      await client.end();
    }
  };
  const scratch = async () => (await databases()).filter((name) => isScratchName(live, name));

  beforeAll(async () => {
    if (!postgres) return;
    platform = await startTestPlatform(postgres, { MAINTENANCE_POLL_MS: "200" });
    url = platform.config.database.url ?? "";
    live = databaseOf(url);
  }, slow);
  afterAll(async () => {
    await dropRestoreLeftovers(platform);
    await platform?.stop();
  });

  it("a leased scratch database is never dropped; an abandoned one is (--dry-run names it first); other names are left alone", async () => {
    const held = scratchName(live, "restore");
    const lease = await leaseScratchDatabase(url, held);
    await createDatabase(url, held);
    const abandoned = scratchName(live, "drill");
    await createDatabase(url, abandoned);
    // Not a name a restore makes: never taken for a scratch copy.
    const unrelated = `${live.slice(0, 40)}_restore_notours1`;
    await createDatabase(url, unrelated);
    try {
      expect(await dropAbandonedScratchDatabases(url, { dryRun: true })).toEqual([abandoned]);
      expect(await scratch()).toEqual(expect.arrayContaining([held, abandoned]));
      expect(await dropAbandonedScratchDatabases(url)).toEqual([abandoned]);
      const left = await databases();
      expect(left).toContain(held);
      expect(left).toContain(unrelated);
      expect(left).not.toContain(abandoned);
      // Once its restore lets go (it ended, or its process died), the copy is abandoned.
      await lease.release();
      expect(await dropAbandonedScratchDatabases(url)).toEqual([held]);
      expect(await scratch()).toEqual([]);
    } finally {
      await lease.release();
      for (const name of [held, abandoned, unrelated]) await dropDatabase(url, name);
    }
  }, slow);

  it("a restore killed while loading leaves its scratch database; the next restore removes it, puts maintenance back and restores", async () => {
    const api = apiClient(platform.baseUrl);
    const env = cliEnv(platform, { MAINTENANCE_POLL_MS: "200" });
    const before = await api.newUser("scratch-before");
    const backup = await runScript("backup/database-backup.sh", ["full", "--json"], env);
    expect(backup.code, backup.stderr).toBe(0);

    const restore = spawnCli(["restore", "latest", "--yes"], env);
    let copy: string | undefined;
    // Killed as soon as its scratch database exists: loaded, perhaps, but not swapped in.
    while (!copy) {
      copy = (await scratch()).find((name) => name.includes("_restore_"));
      if (!copy && restore.child.exitCode !== null) throw new Error(`the restore ended before its copy was seen:\n${restore.stdout()}\n${restore.stderr()}`);
      if (!copy) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    restore.child.kill("SIGKILL");
    await restore.exited;
    expect(await scratch()).toEqual([copy]);
    // The killed restore's marker is there, and maintenance mode is on (nothing turned it off): the platform answers 503
    // once its watcher has seen the flag (one poll; the restore may have been killed before that poll came).
    await readFile(join(platform.dataDir, "state", "restore-in-progress.json"), "utf8");
    const refused = async () => ((await api.call("GET", "/api/content", { token: before.accessToken })).status === 503 ? true : undefined);
    await eventually(refused, "maintenance mode left on by the killed restore", 15_000);

    const again = await runCli(["restore", "latest", "--yes"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Before this restore: a restore started \S+ was interrupted; the previous database serves, maintenance mode is off again, 1 half-loaded copy removed/);
    expect(await scratch()).toEqual([]);
    const login = await api.call<{ accessToken: string }>("POST", "/api/auth/login", { json: { email: before.email, password: before.password } });
    expect(login.status).toBe(200);
    expect((await api.call("POST", "/api/content", { token: login.body.accessToken, json: { title: "writes work" } })).status).toBe(201);
  }, slow);

  it("a drill removes a scratch database a killed drill left behind", async () => {
    const abandoned = scratchName(live, "drill");
    await createDatabase(url, abandoned);
    const env = cliEnv(platform);
    const drill = await runScript("scripts/test-backup-recovery.sh", [], env);
    expect(drill.code, drill.stderr).toBe(0);
    // Named among what it removed (a restore an earlier test killed may have left one of its own too).
    expect(drill.stderr).toMatch(new RegExp(`Removed \\d+ scratch database\\(s\\) left by an interrupted restore or drill: ([^\\n]*, )?${abandoned}[,.]`));
    expect(await scratch()).toEqual([]);
  }, slow);
});
