import { execFileSync } from "node:child_process";
import { appendFile, chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordAudit } from "../src/platform/audit/audit.service.ts";
import { closePlatform, openPlatform } from "../src/platform/context.ts";
import { backends } from "./helpers/backends.ts";
import { repoRoot, runCli } from "./helpers/cli.ts";
import { npmAuditAnswer } from "./helpers/npm-audit.ts";
import { makeDataDir, testConfig } from "./helpers/platform.ts";

interface Report {
  ok: boolean;
  failing: string[];
  controls: { id: string; state: "pass" | "warn" | "fail"; detail: string }[];
}

for (const backend of backends()) {
  describe(`azora compliance report (${backend.name})`, () => {
    let env: Record<string, string>;
    let dispose: () => Promise<void>;
    let dataDir: string;
    // npm audit asks the package registry: one test below runs the control against it, the others leave it out.
    const report = async (...extra: string[]) => runCli(["compliance", "report", "--no-dependencies", ...extra], env);

    beforeAll(async () => {
      dataDir = await makeDataDir();
      const provisioned = await backend.provision();
      dispose = provisioned.dispose;
      env = { DATA_DIR: dataDir, BACKUP_SCHEDULE: "off", ...provisioned.env };
      const migrated = await runCli(["migrate"], env);
      expect(migrated.code, migrated.stderr).toBe(0);
    }, 300_000);
    afterAll(async () => {
      await dispose?.();
      await rm(dataDir, { recursive: true, force: true });
    });

    it("fails without a backup or a drill and lists the failing controls first", async () => {
      const result = await report("--json");
      expect(result.code, result.stderr).toBe(1);
      const json = JSON.parse(result.stdout) as Report;
      expect(json.ok).toBe(false);
      expect(json.failing.sort()).toEqual(["backups", "restore-drill"]);
      expect(json.controls.slice(0, 2).map((control) => control.state)).toEqual(["fail", "fail"]);
      expect(json.controls.map((control) => control.id)).toEqual(
        expect.arrayContaining(["audit-chain", "retention", "gdpr-requests", "access-review", "secret-rotation", "security-policy", "security-findings", "open-incidents", "dependencies"]),
      );
      expect(json.controls.find((control) => control.id === "audit-chain")!.state).toBe("pass");
      // Written to a file, --json still prints one JSON document: where it went and what failed.
      const file = join(dataDir, "compliance.json");
      const written = await report("--json", "--out", file);
      expect(written.code).toBe(1);
      expect(JSON.parse(written.stdout)).toEqual({ out: file, ok: false, failing: expect.arrayContaining(["backups", "restore-drill"]) });
      expect((JSON.parse(await readFile(file, "utf8")) as Report).failing.sort()).toEqual(["backups", "restore-drill"]);
    }, 300_000);

    it("checks the dependencies with npm audit --omit=dev against the real registry and reports its answer", async () => {
      const answer = await npmAuditAnswer(repoRoot);
      const result = await runCli(["compliance", "report", "--json"], env);
      const dependencies = (JSON.parse(result.stdout) as Report).controls.find((control) => control.id === "dependencies")!;
      if (answer.kind === "findings") {
        const serious = (answer.vulnerabilities.critical ?? 0) + (answer.vulnerabilities.high ?? 0);
        expect(dependencies).toMatchObject({ state: serious > 0 ? "fail" : "pass", detail: expect.stringContaining(`npm audit --omit=dev: ${answer.total} (`) });
      } else {
        // A registry that serves packages but not npm's advisory endpoint (405 here): a warning that says so, not a pass.
        expect(answer.kind, JSON.stringify(answer)).toBe("refused");
        expect(dependencies.state).toBe("warn");
        expect(dependencies.detail).toContain(`Not checked: the registry refused npm audit's request: ${answer.kind === "refused" ? answer.status : "?"}`);
        expect(dependencies.detail).not.toContain("://");
      }
    }, 300_000);

    it("passes once a backup and a restore drill succeeded; markdown and HTML say so", async () => {
      for (const step of [["backup", "full"], ["backup", "drill"]]) {
        const done = await runCli(step, env);
        expect(done.code, done.stderr).toBe(0);
      }
      const markdown = await report();
      expect(markdown.code, markdown.stdout + markdown.stderr).toBe(0);
      expect(markdown.stdout).toContain("All controls pass.");
      expect(markdown.stdout).toMatch(/^\| PASS \| Database backups \| Last success /m);
      const out = join(dataDir, "compliance.html");
      const html = await report("--html", "--out", out);
      expect(html.code, html.stderr).toBe(0);
      expect(await readFile(out, "utf8")).toContain("<td>Restore drills</td>");

      // A scheduled backup task that failed (as `azora up`'s backup plan logs it to api.log): one before the
      // newest full backup is reported, one after it fails the control.
      const logs = join(dataDir, "logs");
      await mkdir(logs, { recursive: true });
      const failure = (at: number, task: string) => `${JSON.stringify({ level: 50, time: new Date(at).toISOString(), event: "scheduled_backup_failed", task, exitCode: 1, msg: "scheduled backup task failed" })}\n`;
      const rotated = join(logs, "api.log.20260101T000000Z.gz");
      await writeFile(rotated, gzipSync(failure(Date.now() - 2 * 86_400_000, "incremental") + failure(Date.now() - 40 * 86_400_000, "full")));
      try {
        const older = JSON.parse((await report("--json")).stdout) as Report;
        const reported = older.controls.find((control) => control.id === "backups")!;
        expect(reported.state).toBe("pass");
        expect(reported.detail).toMatch(/1 scheduled backup task failed in the last 30 days \(latest [^,]+, task incremental\), none since the newest full backup\./);
        await appendFile(join(logs, "api.log"), failure(Date.now(), "full"));
        const failing = await report("--json");
        expect(failing.code).toBe(1);
        const json = JSON.parse(failing.stdout) as Report;
        expect(json.failing).toEqual(["backups"]);
        expect(json.controls[0]!.detail).toMatch(/2 scheduled backup tasks failed in the last 30 days \(latest [^,]+, task full\), 1 since the newest full backup: grep scheduled_backup_failed api.log/);
      } finally {
        await rm(rotated, { force: true });
        await rm(join(logs, "api.log"), { force: true });
      }
    }, 600_000);

    it("lists open security findings: recent SUSPICIOUS_ACTIVITY is a warning, a high audit finding fails the report", async () => {
      const logs = join(dataDir, "logs");
      await mkdir(logs, { recursive: true });
      const event = (at: number, detector: string) => `${JSON.stringify({ level: 40, time: new Date(at).toISOString(), event: "SUSPICIOUS_ACTIVITY", detector, msg: "planted" })}\n`;
      // Two recent events (one in a rotated file) and one older than the seven days the control looks back.
      await appendFile(join(logs, "security.log"), event(Date.now() - 3_600_000, "brute-force"));
      await writeFile(join(logs, "security.log.20260101T000000Z.gz"), gzipSync(event(Date.now() - 2 * 86_400_000, "brute-force") + event(Date.now() - 8 * 86_400_000, "leaks")));
      const warned = await report("--json");
      expect(warned.code, warned.stdout).toBe(0);
      const findings = (JSON.parse(warned.stdout) as Report).controls.find((control) => control.id === "security-findings")!;
      expect(findings.state).toBe("warn");
      expect(findings.detail).toContain("2 SUSPICIOUS_ACTIVITY events in the last 7 days (brute-force 2)");
      // Whatever low findings a fresh test installation has (an idle admin, say), nothing high or medium.
      expect(findings.detail).toMatch(/^Security audit \(offline checks\): (no findings\.|0 high, 0 medium, \d+ low — )/);

      // The master key readable by others: the high finding `azora security audit` reports fails the control.
      const key = join(dataDir, "secrets", "master.key");
      await chmod(key, 0o644);
      try {
        const failed = await report("--json");
        expect(failed.code).toBe(1);
        const json = JSON.parse(failed.stdout) as Report;
        expect(json.failing).toEqual(["security-findings"]);
        expect(json.controls[0]).toMatchObject({ id: "security-findings", state: "fail" });
        expect(json.controls[0]!.detail).toContain("high secrets_file_modes: master.key is readable by other users");
        const markdown = await report();
        expect(markdown.stdout).toMatch(/\*\*1 control failing:\*\* Open security findings\./);
      } finally {
        await chmod(key, 0o600);
        await rm(join(logs, "security.log.20260101T000000Z.gz"), { force: true });
      }
    }, 300_000);

    it("fails the audit control when a row of the audit log was edited", async () => {
      const context = await openPlatform(testConfig(env), { migrate: false });
      try {
        const row = await recordAudit(context, { actor: "cli:test", action: "maintenance.on", target: "maintenance" });
        await context.db.query("UPDATE audit_log SET target = 'tampered' WHERE seq = $1", [row.seq]);
      } finally {
        await closePlatform(context);
      }
      const result = await report("--json");
      expect(result.code).toBe(1);
      const json = JSON.parse(result.stdout) as Report;
      expect(json.failing).toEqual(["audit-chain"]);
      expect(json.controls[0]).toMatchObject({ id: "audit-chain", state: "fail" });
    }, 300_000);

    it("refuses --json with --html", async () => {
      const result = await report("--json", "--html");
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("Choose one of --json and --html");
    }, 120_000);
  });
}

describe("./scripts/compliance-report.sh", () => {
  it("is the guide's wrapper and answers --help", () => {
    expect(execFileSync(join(repoRoot, "scripts/compliance-report.sh"), ["--help"], { encoding: "utf8" })).toContain("--no-dependencies");
  });
});
