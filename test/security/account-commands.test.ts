import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { repoRoot, runCli } from "../helpers/cli.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import { manualClock, startClockedPlatform } from "../helpers/security-platform.ts";

// Each step starts the real CLI through the guide's wrapper as a child process: generous bounds, no timing asserted.
const SLOW = 300_000;
const disableAccount = join(repoRoot, "scripts", "disable-account.sh");

/** The guide's `./scripts/disable-account.sh user@example.com`, as an operator runs it. */
describe.each(backends())("./scripts/disable-account.sh on the $name backend", (backend) => {
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  let env: Record<string, string>;

  beforeAll(async () => {
    platform = await startClockedPlatform(backend, manualClock());
    api = apiClient(platform.baseUrl);
    env = { DATA_DIR: platform.dataDir, ...(platform.config.database.url ? { DATABASE_URL: platform.config.database.url } : {}) };
  }, SLOW);
  afterAll(async () => platform?.stop(), SLOW);

  it("answers --help, refuses bad usage with 2 and an unknown email with 1", async () => {
    const help = await runCli(["--help"], env, disableAccount);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--dry-run");
    expect((await runCli([], env, disableAccount)).code).toBe(2);
    expect((await runCli(["not-an-email"], env, disableAccount)).code).toBe(2);
    const unknown = await runCli(["nobody@example.com"], env, disableAccount);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("No account");
  }, SLOW);

  it("a dry run changes nothing; the real run disables, masks the email, and prints one JSON document with --json", async () => {
    const jane = await api.newUser("wrapper");
    const dry = await runCli([jane.email, "--dry-run"], env, disableAccount);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("Dry run");
    expect(dry.stdout).not.toContain(jane.email);
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(200);

    // An operator who names the person in the reason: the audit row (never erasable) keeps the reason, masked.
    const done = await runCli([jane.email, "--reason", `phished, reported by ${jane.email}`, "--json"], env, disableAccount);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ id: jane.id, action: "disable", dryRun: false, changed: true });
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(401);
    const rows = await platform.running.context.db.query<{ action: string; details: unknown }>("SELECT action, details FROM audit_log WHERE target = $1", [`user:${jane.id}`]);
    expect(rows.map((row) => row.action)).toEqual(["account.disable"]);
    const details = (typeof rows[0]!.details === "string" ? JSON.parse(rows[0]!.details) : rows[0]!.details) as Record<string, unknown>;
    expect(details).toMatchObject({ changed: true, sessionsEnded: expect.any(Number), reason: `phished, reported by ${jane.email[0]}***@${jane.email.split("@")[1]}` });
    expect(JSON.stringify(rows)).not.toContain(jane.email);
  }, SLOW);
});
