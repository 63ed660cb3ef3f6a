import { execFileSync } from "node:child_process";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./helpers/cli.ts";
import { toolAvailability } from "./helpers/tools.ts";

const scriptDirs = ["scripts", "backup", "deployment", ".ci"];

async function scripts(): Promise<string[]> {
  const found: string[] = [];
  for (const dir of scriptDirs) {
    const entries = await readdir(join(repoRoot, dir)).catch(() => [] as string[]);
    for (const entry of entries) if (entry.endsWith(".sh") || entry === "run") found.push(join(dir, entry));
  }
  return found;
}

describe("the guide's wrapper scripts", () => {
  it("are executable and hand over to the azora CLI", async () => {
    const wrappers = (await scripts()).filter((path) => !path.startsWith(".ci"));
    expect(wrappers).toContain("scripts/health-check.sh");
    expect(wrappers).toEqual(expect.arrayContaining(["backup/config-backup.sh", "backup/config-restore.sh", "backup/content-backup.sh"]));
    expect(wrappers).toContain("scripts/anomaly-detection.sh");
    expect(wrappers).toContain("scripts/data-leak-detection.sh");
    expect(wrappers).toContain("scripts/access-monitor.sh");
    expect(wrappers).toEqual(expect.arrayContaining(["scripts/security-audit.sh", "scripts/forensic-analysis.sh", "scripts/penetration-test.sh"]));
    expect(wrappers).toEqual(expect.arrayContaining(["scripts/disable-account.sh", "scripts/bulk-password-reset.sh", "scripts/rotate-secrets.sh"]));
    for (const path of wrappers) {
      expect((await stat(join(repoRoot, path))).mode & 0o111, `${path} is not executable`).not.toBe(0);
      expect(await readFile(join(repoRoot, path), "utf8"), `${path} should call bin/azora.js`).toMatch(/bin\/azora\.js" [a-z]/);
    }
  });

  const shellcheck = toolAvailability("shellcheck", "shellcheck");
  it.runIf(shellcheck.run)(`pass shellcheck ${shellcheck.reason}`, async () => {
    const files = await scripts();
    expect(() => execFileSync("shellcheck", ["--severity=style", ...files], { cwd: repoRoot, encoding: "utf8" })).not.toThrow();
  });
});
