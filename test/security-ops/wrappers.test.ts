import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/cli.ts";

const run = promisify(execFile);

describe("the guide's security scripts", () => {
  it.each([
    ["scripts/anomaly-detection.sh", "security anomalies"],
    ["scripts/data-leak-detection.sh", "security leak-detect"],
    ["scripts/access-monitor.sh", "security access-monitor"],
    ["scripts/update-security-policies.sh", "security policies update"],
    ["scripts/security-audit.sh", "security audit"],
    ["scripts/penetration-test.sh", "security pentest"],
    ["scripts/forensic-analysis.sh", "security forensics"],
  ])("%s --help describes azora %s", async (script, command) => {
    const { stdout } = await run(join(repoRoot, script), ["--help"], { cwd: repoRoot });
    expect(stdout).toContain(`Usage: azora ${command}`);
  });

  it("exit 2 on bad input, with the message on stderr", async () => {
    const failure = await run(join(repoRoot, "scripts/anomaly-detection.sh"), ["--since", "whenever"], { cwd: repoRoot }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2, stderr: expect.stringContaining('--since "whenever"') });
  });
});
