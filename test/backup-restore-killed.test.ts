import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { startChildPlatform, type ChildPlatform } from "./helpers/child-platform.ts";
import { runCli, spawnCli } from "./helpers/cli.ts";

const slow = 600_000;

/**
 * `azora up` killed in the middle of a restore (the embedded default, where the restore runs inside it):
 * the next start serves the previous database, with maintenance mode off again and no copy left behind,
 * even when the restore's PID has since been given to another process.
 */
describe("a restore killed halfway", () => {
  let second: ChildPlatform | undefined;
  afterAll(async () => {
    await second?.dispose();
  });

  it("leaves the previous database serving after a restart", async () => {
    const first = await startChildPlatform({ via: "azora" });
    const env = { DATA_DIR: first.dataDir };
    const api = apiClient(first.baseUrl);
    const before = await api.newUser("before");
    const backup = await runCli(["backup", "full"], env);
    expect(backup.code, backup.stderr).toBe(0);
    // Written after the backup: only the database that was live before the restore has it.
    const after = await api.newUser("after");

    const restore = spawnCli(["restore", "latest", "--yes"], env);
    // Killed as soon as maintenance mode is on: the restore has begun and cannot have swapped yet.
    for (;;) {
      const answer = await api.call("GET", "/api/content", { token: before.accessToken });
      if (answer.status === 503) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    first.run.child.kill("SIGKILL");
    await first.run.exited;
    await restore.exited;

    // The restore's PID now belongs to a live process (as after a reboot): the marker must not be taken for it.
    const markerFile = join(first.dataDir, "state", "restore-in-progress.json");
    const marker = JSON.parse(await readFile(markerFile, "utf8")) as { pid: number };
    await writeFile(markerFile, JSON.stringify({ ...marker, pid: process.pid }));

    second = await startChildPlatform({ via: "azora", dataDir: first.dataDir });
    expect(second.run.stderr()).toMatch(/a restore started \S+ was interrupted; the previous database serves, maintenance mode is off again/);
    const again = apiClient(second.baseUrl);
    expect((await again.call("POST", "/api/auth/login", { json: { email: after.email, password: after.password } })).status).toBe(200);
    expect((await again.call("POST", "/api/content", { token: after.accessToken, json: { title: "writes work" } })).status).toBe(201);
    expect((await readdir(first.dataDir)).filter((name) => name.startsWith("pg.restore-"))).toEqual([]);
  }, slow);
});
