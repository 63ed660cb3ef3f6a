// What `azora rollback` loads and connects to on its way to the switch (docs/adr/0342): on PostgreSQL, not
// the embedded database's driver, ioredis, the YAML parser or undici, and no Redis connection (the traffic
// routes and the audit log are in the database). A module-load hook beside tsx records every module loaded.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "./helpers/backends.ts";
import { azoraBin, repoRoot, runCli } from "./helpers/cli.ts";
import { splitModeEnv } from "./helpers/platform.ts";

const exec = promisify(execFile);
const postgres = backends().find((backend) => backend.name === "postgres+redis");

describe.runIf(postgres)("the rollback path on PostgreSQL loads and connects only what the switch needs", () => {
  let env: Record<string, string>;
  let dispose: () => Promise<void> = async () => undefined;

  beforeAll(async () => {
    const provisioned = await postgres!.provision();
    dispose = provisioned.dispose;
    // A Redis nobody answers on: a command that connected to it would say so on stderr.
    env = await splitModeEnv(provisioned.env, "rollback-path", { AZORA_DEPLOY_TARGET: "local", LOG_STDOUT: "false", REDIS_URL: "redis://127.0.0.1:1", AUTH_URL: "http://127.0.0.1:9", USERS_URL: "http://127.0.0.1:10" });
    expect((await runCli(["migrate"], env)).code).toBe(0);
    // A green colour to switch to, as a deploy leaves it (the processes behind the URLs do not matter to the switch).
    expect((await runCli(["traffic", "targets", "users", "--green", "http://127.0.0.1:11"], env)).code).toBe(0);
    expect((await runCli(["traffic", "targets", "auth", "--green", "http://127.0.0.1:12"], env)).code).toBe(0);
    expect((await runCli(["traffic", "switch", "users", "--to", "green"], env)).code).toBe(0);
    expect((await runCli(["traffic", "switch", "auth", "--to", "green"], env)).code).toBe(0);
  }, 300_000);
  afterAll(async () => dispose());

  it("rollback.sh switches back without PGlite, ioredis, yaml or undici loaded, and without connecting to Redis", async () => {
    const dir = await mkdtemp(join(tmpdir(), "azora-module-trace-"));
    const trace = join(dir, "modules.txt");
    await writeFile(join(dir, "hooks.mjs"), 'import { appendFileSync } from "node:fs";\nexport async function load(url, context, next) {\n  appendFileSync(process.env.MODULE_TRACE, `${url}\\n`);\n  return next(url, context);\n}\n');
    await writeFile(join(dir, "register.mjs"), `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`);
    const { stdout, stderr } = await exec(process.execPath, ["--import", join(dir, "register.mjs"), azoraBin, "rollback", "staging", "Path check"], {
      cwd: repoRoot,
      env: { ...env, PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", MODULE_TRACE: trace },
      timeout: 240_000,
    });
    expect(stdout).toMatch(/Rolled back local staging .*: Path check/);
    expect(stderr).not.toMatch(/Redis \(REDIS_URL\) is unreachable/);
    const loaded = await readFile(trace, "utf8");
    expect(loaded).toMatch(/src\/ops\/deploy\/local-target\.ts/);
    expect(loaded).toMatch(/node_modules\/pg\//);
    for (const unneeded of ["node_modules/@electric-sql/pglite/", "node_modules/ioredis/", "node_modules/yaml/", "node_modules/undici/"]) expect(loaded).not.toContain(unneeded);
    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT upstream, active FROM traffic_routes ORDER BY upstream");
      expect(rows).toEqual([{ upstream: "auth", active: "blue" }, { upstream: "users", active: "blue" }]);
    } finally {
      await client.end();
    }
  }, 300_000);
});
