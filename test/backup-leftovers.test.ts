import { spawn } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupFullCommand } from "../src/ops/backup.ts";
import { databaseOf, maintenanceUrl, scratchName } from "../src/ops/backup/postgres-engine.ts";
import { ownerTag, processIdentityOf, type ProcessIdentity } from "../src/platform/process-identity.ts";
import { backends } from "./helpers/backends.ts";
import { dropRestoreLeftovers } from "./helpers/backup.ts";
import { captureIO } from "./helpers/gdpr.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";

const exists = async (path: string) => (await readdir(dirname(path)).catch(() => [] as string[])).includes(basename(path));

/** The identity of a process that ran and was killed (as a backup or restore killed halfway). */
async function deadProcess(): Promise<ProcessIdentity> {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  await new Promise((resolve) => child.once("spawn", resolve));
  const identity = processIdentityOf(child.pid ?? 0);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
  return identity;
}

/** What a killed backup or restore leaves is removed by the next backup; what a live one is using stays. */
describe.each(backends())("leftovers of a killed backup or restore ($name)", (backend) => {
  let platform: TestPlatform;
  const slow = 400_000;
  beforeAll(async () => {
    platform = await startTestPlatform(backend);
  }, slow);
  afterAll(async () => {
    await dropRestoreLeftovers(platform);
    await platform?.stop();
  });

  it("the next backup removes a dead process's working directories, staged files, copies and scratch databases, and keeps a live one's", async () => {
    const { config } = platform;
    const gone = await deadProcess();
    const dead = ownerTag(gone);
    const live = ownerTag();
    const leave = async (path: string, directory: boolean) => {
      await mkdir(directory ? path : dirname(path), { recursive: true });
      if (directory) await writeFile(join(path, "dump.sql"), "-- personal data in clear\n");
      else await writeFile(path, "half an upload");
    };
    const deadOnes = [
      join(config.paths.backups, `.work-${dead}-0badc0de`),
      join(config.paths.backups, `.partial-${dead}-20261129T120000Z-full-abcdef`),
      join(config.paths.backups, `.fetch-${dead}-20261129T120000Z-full-abcdef`),
      join(config.paths.blobs, ".staging", `${dead}-0b6d2a7c-1111-4222-8333-944445555666.part`),
      join(config.paths.backups, "content", "blobs", ".staging", `${dead}-0b6d2a7c-1111-4222-8333-944445555667.part`),
      ...(config.database.url ? [] : [`${config.paths.pg}.restore-${dead}-0badc0de`, `${config.paths.pg}.drill-${dead}-0badc0de`]),
    ];
    // The same dead PID seen from another machine or container sharing the directory (the backups volume of
    // several pods): a PID of another pid space says nothing here, so what it names is still in use.
    const elsewhere = ownerTag(gone, "0e15e0e1");
    const liveOnes = [
      join(config.paths.backups, `.partial-${elsewhere}-20261129T120000Z-full-fedcba`),
      join(config.paths.backups, `.work-${elsewhere}-0e15e0e1`),
      join(config.paths.backups, `.work-${live}-600dc0de`),
      join(config.paths.blobs, ".staging", `${live}-0b6d2a7c-1111-4222-8333-944445555668.part`),
      ...(config.database.url ? [] : [`${config.paths.pg}.drill-${live}-600dc0de`]),
    ];
    for (const path of [...deadOnes, ...liveOnes]) await leave(path, !path.endsWith(".part"));
    // An erasure killed while it wrote its pending file: its keys must still reach the content backups.
    const erasing = join(config.paths.backups, "content", `.erasures-writing.${dead}.0badc0de`);
    await writeFile(erasing, `${"a".repeat(64)}\n`);
    const erasingElsewhere = join(config.paths.backups, "content", `.erasures-writing.${elsewhere}.0e15e0e1`);
    await writeFile(erasingElsewhere, `${"b".repeat(64)}\n`);

    // On PostgreSQL, a scratch database whose restore was killed (no session holds its lease any more).
    const url = config.database.url;
    const scratch = url ? scratchName(databaseOf(url), "restore") : undefined;
    if (url && scratch) {
      const admin = new pg.Client({ connectionString: maintenanceUrl(url) });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${scratch}"`).finally(() => admin.end());
    }

    const io = captureIO();
    expect(await backupFullCommand.run(platform.running.context, { kind: "full", json: true }, io), io.errText()).toBe(0);
    expect(io.errText()).toMatch(/Removed \d+ leftover\(s\) of an interrupted backup, restore or drill/);
    for (const path of deadOnes) expect(await exists(path), `${path} should be gone`).toBe(false);
    for (const path of liveOnes) expect(await exists(path), `${path} should stay`).toBe(true);
    const content = await readdir(join(config.paths.backups, "content"));
    expect(content.filter((name) => name.startsWith(".erasures-writing."))).toEqual([basename(erasingElsewhere)]);
    expect(content.filter((name) => name.startsWith(".erasures-pending."))).toHaveLength(1);
    if (url && scratch) {
      const admin = new pg.Client({ connectionString: maintenanceUrl(url) });
      await admin.connect();
      const { rows } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [scratch]).finally(() => admin.end());
      expect(rows).toEqual([]);
    }
  }, slow);
});
