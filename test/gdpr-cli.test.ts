import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./helpers/api.ts";
import { repoRoot, runCli, spawnCli, type RunningCli } from "./helpers/cli.ts";
import { unpackAndVerify } from "./helpers/gdpr.ts";
import { makeDataDir } from "./helpers/platform.ts";

const script = (name: string) => join(repoRoot, "scripts", name);

// Every step starts the real CLI as a child process: generous bounds for a busy machine, no timing asserted.
const CLI_STEPS_TIMEOUT_MS = 300_000;

/** The guide's GDPR wrappers, as an operator runs them while `azora up` holds the embedded database. */
describe("the guide's GDPR scripts against a running azora up", () => {
  let dataDir: string;
  let env: Record<string, string>;
  let up: RunningCli;
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    dataDir = await makeDataDir();
    env = { DATA_DIR: dataDir, HOST: "127.0.0.1", PORT: "0", OPS_PORT: "0" };
    up = spawnCli(["up"], env);
    const [, gatewayUrl] = await up.waitFor(/API:\s+(http:\/\/\S+)/, 110_000);
    await up.waitFor(/Ops:\s+(http:\/\/\S+)/);
    api = apiClient(gatewayUrl ?? "");
  });
  afterAll(async () => {
    if (up.child.exitCode === null) {
      up.child.kill("SIGTERM");
      await up.exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it("answer --help", async () => {
    for (const [name, words] of [["gdpr-data-export.sh", "--out"], ["gdpr-data-deletion.sh", "--dry-run"], ["gdpr-audit.sh", "inventory"]] as const) {
      const help = await runCli(["--help"], env, script(name));
      expect(help.code, name).toBe(0);
      expect(help.stdout, name).toContain(words);
    }
  }, CLI_STEPS_TIMEOUT_MS);

  it("export, then erase (dry run first), inside the running process", async () => {
    const jane = await api.newUser("guide");
    await api.call("POST", "/api/content", { token: jane.accessToken, json: { title: "mine" } });
    const out = join(dataDir, "jane.tar.gz");

    const exported = await runCli([jane.email, "--out", out], env, script("gdpr-data-export.sh"));
    expect(exported.stderr).toBe("");
    expect(exported.code).toBe(0);
    const { dir } = await unpackAndVerify(out);
    expect(JSON.parse(await readFile(join(dir, "content.json"), "utf8"))[0].title).toBe("mine");
    await rm(dir, { recursive: true, force: true });

    // As the guide writes it, without a terminal to confirm on: refused, with what to do.
    const unconfirmed = await runCli([jane.email], env, script("gdpr-data-deletion.sh"));
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain("--yes");

    const dryRun = await runCli([jane.email, "--dry-run"], env, script("gdpr-data-deletion.sh"));
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain("Nothing was changed");
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(200);

    const erased = await runCli([jane.email, "--yes", "--json"], env, script("gdpr-data-deletion.sh"));
    expect(erased.code).toBe(0);
    expect(JSON.parse(erased.stdout)).toMatchObject({ dryRun: false, rows: { users: 1, content: 1 } });
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(401);

    const again = await runCli([jane.email, "--yes"], env, script("gdpr-data-deletion.sh"));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("No account with the email");
    expect(again.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  }, CLI_STEPS_TIMEOUT_MS);

  it("print the data inventory and exit 0 when every column is annotated", async () => {
    const audit = await runCli([], env, script("gdpr-audit.sh"));
    expect(audit.stderr).toBe("");
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(/users \(auth service\)[\s\S]*personal data: id \(identifier\), email \(contact\)/);
    const json = await runCli(["--json"], env, script("gdpr-audit.sh"));
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, unannotated: [] });
  }, CLI_STEPS_TIMEOUT_MS);
});
