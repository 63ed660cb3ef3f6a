import { afterAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { dropRestoreLeftovers, runScript, statsOf, withoutRestoreWrites } from "./helpers/backup.ts";
import { makeDataDir, startTestPlatform, testConfig, type TestPlatform } from "./helpers/platform.ts";
import { platformCommands } from "../src/ops/commands.ts";
import { startPlatform } from "../src/runtime.ts";

const postgres = backends().find((backend) => backend.name === "postgres+redis");
const masterKey = "m".repeat(48);

/** docs/operations.md "Moving to PostgreSQL": azora backup full on the embedded default, azora restore with DATABASE_URL set. */
describe.runIf(postgres)("moving from the embedded default to PostgreSQL", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it("a backup of the embedded default restores into PostgreSQL: same users, passwords, tokens and content", async () => {
    const embedded: TestPlatform = await startTestPlatform({ name: "embedded", provision: async () => ({ env: {}, dispose: async () => undefined }) }, { AZORA_MASTER_KEY: masterKey });
    cleanup.push(() => embedded.stop());
    const api = apiClient(embedded.baseUrl);
    const jane = await api.newUser("jane");
    expect((await api.call("POST", "/api/content", { token: jane.accessToken, json: { title: "moved ✓" } })).status).toBe(201);
    const backup = await runScript("backup/database-backup.sh", ["full", "--json"], { DATA_DIR: embedded.dataDir });
    expect(backup.code, backup.stderr).toBe(0);
    const { path } = JSON.parse(backup.stdout) as { path: string };
    const before = await statsOf(embedded.running.context.db);

    const provisioned = await postgres!.provision();
    const dataDir = await makeDataDir();
    const env = { DATA_DIR: dataDir, AZORA_MASTER_KEY: masterKey, ...provisioned.env };
    const restore = await runScript("backup/database-restore.sh", [path, "--yes"], env);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/row counts and checksums equal to the manifest/);

    const running = await startPlatform(testConfig(env), { roles: ["gateway", "auth", "users"], commands: platformCommands });
    cleanup.push(async () => {
      await running.stop();
      await dropRestoreLeftovers({ config: running.context.config } as TestPlatform);
      await provisioned.dispose();
    });
    expect(withoutRestoreWrites(await statsOf(running.context.db))).toEqual(withoutRestoreWrites(before));
    const moved = apiClient(running.urls.gateway ?? "");
    expect((await moved.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(200);
    // Signed on the embedded default, verified on PostgreSQL: the signing keys moved with the data.
    const me = await moved.get("/api/auth/me", jane.accessToken);
    expect([me.status, me.body.email]).toEqual([200, jane.email]);
    expect(JSON.stringify((await moved.get("/api/content", jane.accessToken)).body)).toContain("moved ✓");
  }, 600_000);
});
