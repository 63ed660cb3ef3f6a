import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { closePlatform, openPlatform } from "../../src/platform/context.ts";
import { readCurrentPolicy } from "../../src/services/security/current-policy.ts";
import { azora } from "../helpers/in-process-cli.ts";
import { makeDataDir, testConfig } from "../helpers/platform.ts";
import { defaultPolicyPath } from "../../src/services/security/policy.ts";
import { createAuditRepository } from "../../src/platform/audit/audit.repository.ts";

describe("azora security policies", () => {
  let dataDir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    dataDir = await makeDataDir();
    env = { DATA_DIR: dataDir };
    expect((await azora(["migrate"], env)).code).toBe(0);
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("shows the shipped defaults until a policy is stored", async () => {
    const shown = await azora(["security", "policies", "show", "--json"], env);
    expect(shown.code).toBe(0);
    const current = JSON.parse(shown.stdout) as { source: string; policy: unknown };
    expect(current.source).toBe("defaults");
    expect(current.policy).toEqual(parse(await readFile(defaultPolicyPath, "utf8")));
  });

  it("stores a valid file, which show then prints and readCurrentPolicy returns", async () => {
    const document = parse(await readFile(defaultPolicyPath, "utf8")) as { lockout: { maxFailures: number } };
    document.lockout.maxFailures = 3;
    const file = join(dataDir, "policy.yaml");
    await writeFile(file, stringify(document));
    const dryRun = await azora(["security", "policies", "update", file, "--dry-run"], env);
    expect(dryRun).toMatchObject({ code: 0, stdout: expect.stringContaining("valid") });
    expect(JSON.parse((await azora(["security", "policies", "show", "--json"], env)).stdout)).toMatchObject({ source: "defaults" });

    expect((await azora(["security", "policies", "update", file], env)).code).toBe(0);
    const shown = JSON.parse((await azora(["security", "policies", "show", "--json"], env)).stdout) as { source: string; policy: { lockout: { maxFailures: number } } };
    expect(shown).toMatchObject({ source: "database", policy: { lockout: { maxFailures: 3 } } });
    // What a running process polls (nothing holds the data directory between these commands).
    const context = await openPlatform(testConfig({ DATA_DIR: dataDir }), { migrate: false });
    try {
      expect((await readCurrentPolicy(context.db)).policy.lockout.maxFailures).toBe(3);
      // Recorded in the audit log, with what changed; the dry run wrote nothing there.
      const rows = (await createAuditRepository(context.db).all()).filter((row) => row.action === "security.policy.update");
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ target: "security-policy", details: { source: file, previous: "shipped defaults", changed: ["lockout.maxFailures"] } });
      expect(rows[0]!.actor).toMatch(/^cli:/);
    } finally {
      await closePlatform(context);
    }
  });

  it("the detectors use the policy in force unless --policy names a file", async () => {
    const document = parse(await readFile(defaultPolicyPath, "utf8")) as { anomalies: { failedLoginBurst: { perIp: number } } };
    document.anomalies.failedLoginBurst.perIp = 4;
    const file = join(dataDir, "burst-4.yaml");
    await writeFile(file, stringify(document));
    expect((await azora(["security", "policies", "update", file], env)).code).toBe(0);
    // Five failed logins from one address against five accounts: a burst under the stored policy (4), not under the shipped one (30).
    const logDir = join(dataDir, "planted-logs");
    await mkdir(logDir, { recursive: true });
    const at = Date.parse("2026-11-20T10:00:00Z");
    const lines = [0, 1, 2, 3, 4].map((index) =>
      JSON.stringify({ level: "warn", time: new Date(at + index * 1000).toISOString(), log: "auth", event: "LOGIN_FAILED", account: `00000000000000a${index}`, ip: "198.51.100.9", reason: "wrong_password" }),
    );
    await writeFile(join(logDir, "auth.log"), `${lines.join("\n")}\n`);
    const window = ["--log-dir", logDir, "--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z", "--json", "--no-events"];
    const inForce = await azora(["security", "anomalies", ...window], env);
    expect(inForce.code, inForce.stderr).toBe(1);
    expect((JSON.parse(inForce.stdout) as { findings: { kind: string; subject: string }[] }).findings).toEqual([expect.objectContaining({ kind: "failed_login_burst_ip", subject: "198.51.100.9" })]);
    const pinned = await azora(["security", "anomalies", ...window, "--policy", defaultPolicyPath], env);
    expect(pinned).toMatchObject({ code: 0 });
    expect(JSON.parse(pinned.stdout)).toMatchObject({ findings: [] });
  });

  it("refuses an invalid file with every problem listed, exit 2, and changes nothing", async () => {
    const before = (await azora(["security", "policies", "show", "--json"], env)).stdout;
    const file = join(dataDir, "bad.yaml");
    await writeFile(file, "version: 2\nlockout: { maxFailures: 0, windowSeconds: 900, lockSeconds: 900 }\nsurprise: true\n");
    const result = await azora(["security", "policies", "update", file], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("nothing was changed");
    for (const path of ["version", "lockout.maxFailures", "rateLimits", "anomalies", "surprise"]) expect(result.stderr).toContain(path);
    expect((await azora(["security", "policies", "show", "--json"], env)).stdout).toBe(before);
    expect(await azora(["security", "policies", "update", join(dataDir, "missing.yaml")], env)).toMatchObject({ code: 2, stderr: expect.stringContaining("cannot be read") });
  });
});
