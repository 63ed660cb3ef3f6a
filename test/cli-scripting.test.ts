import { existsSync } from "node:fs";
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { migrationsDir } from "../src/platform/db/migrator.ts";
import { repoRoot, runCli } from "./helpers/cli.ts";
import { azora } from "./helpers/in-process-cli.ts";
import { makeDataDir } from "./helpers/platform.ts";

/** Creating an embedded database (initdb and every migration) takes seconds, and minutes on a busy machine. */
const slow = 300_000;

/** The CLI as scripts use it: one JSON document on stdout, a version, exit 2 for usage and 1 for failure. */
describe("azora for scripts", () => {
  const dirs: string[] = [];
  const freshDir = async () => {
    const dir = await makeDataDir();
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const migrationCount = async () => (await readdir(migrationsDir)).filter((name) => name.endsWith(".sql")).length;

  it("prints its version with --version", async () => {
    const { version } = (await import(join(repoRoot, "package.json"), { with: { type: "json" } })).default as { version: string };
    const result = await azora(["--version"]);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it("prints exactly one JSON document on stdout with --json, even with logs on stdout enabled", async () => {
    const dataDir = await freshDir();
    const env = { DATA_DIR: dataDir, LOG_STDOUT: "true" };
    const migrated = await runCli(["migrate", "--json"], env);
    expect(migrated.code).toBe(0);
    const report = JSON.parse(migrated.stdout) as { applied: string[] };
    expect(report.applied).toHaveLength(await migrationCount());

    const unknownUser = await azora(["user", "promote", "nobody@example.com", "--json"], env);
    expect(unknownUser.code).toBe(1);
    expect(unknownUser.stdout).toBe("");

    const health = await azora(["health-check", "--json", "--url", "http://127.0.0.1:1", "--ops-url", "http://127.0.0.1:1"], env);
    expect(health.code).toBe(1);
    expect(JSON.parse(health.stdout)).toMatchObject({ status: "down" });

    const config = await azora(["config", "check", "--json", "--print"], env);
    expect(config.code).toBe(0);
    expect(JSON.parse(config.stdout)).toMatchObject({ valid: true, problems: [] });
  }, slow);

  it("exits 2 for usage errors and 1 for failures", async () => {
    for (const args of [["health-check", "--url", "not a url"], ["health-check", "--ops-url", "ftp://127.0.0.1"], ["migrate", "--frobnicate"], ["user"]]) {
      const result = await azora(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).not.toMatch(/\n\s+at /);
    }
    const unreachable = await azora(["health-check", "--url", "http://127.0.0.1:1", "--ops-url", "http://127.0.0.1:1"]);
    expect(unreachable.code).toBe(1);
  });

  it("reports the migrations it applied, then that there is nothing to apply", async () => {
    const dataDir = await freshDir();
    const first = await azora(["migrate"], { DATA_DIR: dataDir });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Applied ${await migrationCount()} migration(s)`);
    expect(first.stdout).toContain("20261127000100_auth_users");
    const second = await azora(["migrate"], { DATA_DIR: dataDir });
    expect(second.stdout).toContain("Database is up to date");
  }, slow);

  it("does not create a data directory for a command other than up and migrate, and says where it looked", async () => {
    const parent = await freshDir();
    const missing = join(parent, "not-here");
    for (const args of [["user", "promote", "jane@example.com"], ["user", "demote", "jane@example.com", "--json"]]) {
      const result = await azora(args, { DATA_DIR: missing });
      expect(result.code, args.join(" ")).toBe(1);
      expect(result.stderr).toContain(`No Azora OS data in ${missing}`);
      expect(result.stderr).toContain("DATA_DIR=");
      expect(result.stdout).toBe("");
      expect(existsSync(missing)).toBe(false);
    }
  });

  it("creates log files 0640 and secrets 0600", async () => {
    const dataDir = await freshDir();
    expect((await azora(["migrate"], { DATA_DIR: dataDir })).code).toBe(0);
    for (const name of ["api.log", "auth.log", "security.log"]) {
      expect(((await stat(join(dataDir, "logs", name))).mode & 0o777).toString(8), name).toBe("640");
    }
    expect(((await stat(join(dataDir, "secrets", "master.key"))).mode & 0o777).toString(8)).toBe("600");
    expect(((await stat(join(dataDir, "secrets"))).mode & 0o777).toString(8)).toBe("700");
  }, slow);
});

describe("azora config check, deeper", () => {
  it("catches bad TRUSTED_PROXIES entries, a bad HOST and PORT equal to OPS_PORT, all at once", async () => {
    const env = { TRUSTED_PROXIES: "10.0.0.0/8, 10.1.0.0/33 ,proxy.internal,loopback", HOST: "0.0.0.0:8080", PORT: "9000", OPS_PORT: "9000" };
    const result = await azora(["config", "check"], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Configuration is invalid (4 problems)");
    expect(result.stderr).toContain('TRUSTED_PROXIES: "10.1.0.0/33"');
    expect(result.stderr).toContain('TRUSTED_PROXIES: "proxy.internal"');
    expect(result.stderr).toContain('HOST: "0.0.0.0:8080"');
    expect(result.stderr).toContain("OPS_PORT: must differ from PORT (both are 9000)");
  });

  it("refuses to start on such a configuration before it creates or migrates anything", async () => {
    const parent = await makeDataDir();
    const dataDir = join(parent, "data");
    for (const args of [["up"], ["migrate"]]) {
      const result = await azora(args, { DATA_DIR: dataDir, HOST: "bad host", TRUSTED_PROXIES: "everyone", PORT: "0", OPS_PORT: "0" });
      expect(result.code, args.join(" ")).toBe(1);
      expect(result.stderr).toContain("Configuration is invalid (2 problems)");
    }
    expect(existsSync(dataDir)).toBe(false);
    await rm(parent, { recursive: true, force: true });
  });

  it("prints the effective configuration with --print, secrets and URL passwords redacted", async () => {
    const masterKey = "m".repeat(40);
    const opsToken = "t".repeat(40);
    const env = {
      AZORA_MASTER_KEY: masterKey,
      AZORA_OPS_TOKEN: opsToken,
      DATABASE_URL: "postgres://azora:db-password-123@db.internal:5432/azora",
      REDIS_URL: "redis://:redis-password-456@cache.internal:6379",
      PORT: "8081",
    };
    const result = await azora(["config", "check", "--print"], env);
    expect(result.code).toBe(0);
    const everything = result.stdout + result.stderr;
    for (const secret of [masterKey, opsToken, "db-password-123", "redis-password-456"]) expect(everything).not.toContain(secret);
    expect(result.stdout).toMatch(/^AZORA_MASTER_KEY\s+\[redacted\]$/m);
    expect(result.stdout).toMatch(/^DATABASE_URL\s+postgres:\/\/azora:redacted@db\.internal:5432\/azora$/m);
    expect(result.stdout).toMatch(/^PORT\s+8081$/m);
    expect(result.stdout).toMatch(/^OPS_PORT\s+9090\s+\(default\)$/m);
    expect(result.stdout).toMatch(/^TOKEN_ISSUER\s+azora-os\s+\(default\)$/m);
  });
});
