import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { packageVersion } from "../src/platform/config.ts";
import { repoRoot, runCli } from "./helpers/cli.ts";
import { azora } from "./helpers/in-process-cli.ts";
import { npmAuditAnswer } from "./helpers/npm-audit.ts";

// Editing overlays and asking npm: no database involved, one backend.
describe("azora images update VERSION", () => {
  let dir: string;
  let overlays: string;
  const file = (overlay: string) => join(overlays, overlay, "kustomization.yaml");
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-images-"));
    overlays = join(dir, "overlays");
    await cp(join(repoRoot, "test/fixtures/kustomize-overlays"), overlays, { recursive: true });
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  // An installation whose audit log records the updates (without one, the edit stands and the command says the row is missing).
  const install = async () => expect((await azora(["migrate"], { DATA_DIR: dir })).code).toBe(0);

  it("sets the three Azora images in every overlay, keeps comments and other images, and shows the diff", async () => {
    await install();
    const version = packageVersion();
    const result = await azora(["images", "update", version, "--overlays-dir", overlays, "--no-audit", "--json"], { DATA_DIR: dir });
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.overlays.map((entry: { overlay: string; changed: boolean }) => [entry.overlay, entry.changed])).toEqual([["production", true], ["staging", true]]);
    expect(report.diff).toContain("-    newTag: 0.0.9");
    expect(report.diff).toContain(`+    newTag: ${version}`);
    for (const overlay of ["staging", "production"]) {
      const text = await readFile(file(overlay), "utf8");
      expect(text.match(new RegExp(`newTag: ${version.replaceAll(".", "\\.")}`, "g"))).toHaveLength(3);
      expect(text).toContain('newTag: "15"');
      expect(text).toContain("# One image, three names");
    }
    expect(report.audited).toBe(true);
    const again = await azora(["images", "update", version, "--overlays-dir", overlays, "--no-audit"], { DATA_DIR: dir });
    expect(again.stdout).toContain(`Every overlay is already at ${version}.`);
    // The change is in the audit log once, with the tags it replaced; the run that changed nothing wrote no row.
    const rows = (JSON.parse((await azora(["audit", "tail", "-n", "20", "--json"], { DATA_DIR: dir })).stdout) as { action: string; target: string; details: any }[]).filter((row) => row.action === "images.update");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.target).toBe(`overlays:${overlays}`);
    expect(rows[0]!.details).toMatchObject({ version, forced: [] });
    expect(rows[0]!.details.overlays).toEqual([
      { overlay: "production", from: { "azora/api-gateway": "0.0.9", "azora/auth-service": "0.0.9", "azora/user-service": "0.0.9" } },
      { overlay: "staging", from: expect.objectContaining({ "azora/api-gateway": "0.0.9" }) },
    ]);
  });

  it("refuses an unknown version and a downgrade unless --force; --dry-run writes nothing", async () => {
    await install();
    const before = await readFile(file("staging"), "utf8");
    const unknown = await azora(["images", "update", "9.9.9", "--overlays-dir", overlays, "--no-audit"], { DATA_DIR: dir });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("9.9.9 is not a version this checkout knows");
    expect(await readFile(file("staging"), "utf8")).toBe(before);

    await writeFile(file("staging"), before.replaceAll("0.0.9", "99.0.0"));
    const older = await azora(["images", "update", packageVersion(), "--overlays-dir", overlays, "--overlay", "staging", "--no-audit"], { DATA_DIR: dir });
    expect(older.code).toBe(1);
    expect(older.stderr).toMatch(/staging: azora\/api-gateway is at 99\.0\.0, newer than/);

    const dry = await azora(["images", "update", "9.9.9", "--overlays-dir", overlays, "--force", "--dry-run", "--no-audit"], { DATA_DIR: dir });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("+    newTag: 9.9.9");
    expect(dry.stdout).toContain("Dry run: nothing written.");
    expect(await readFile(file("production"), "utf8")).not.toContain("9.9.9");

    const forced = await azora(["images", "update", "9.9.9", "--overlays-dir", overlays, "--force", "--no-audit"], { DATA_DIR: dir });
    expect(forced.code).toBe(0);
    expect(await readFile(file("production"), "utf8")).toContain("newTag: 9.9.9");
    // Only the forced run is audited (the dry run and the refusals wrote nothing), with what it overrode.
    const rows = (JSON.parse((await azora(["audit", "tail", "-n", "20", "--json"], { DATA_DIR: dir })).stdout) as { action: string; details: any }[]).filter((row) => row.action === "images.update");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.details.version).toBe("9.9.9");
    expect(rows[0]!.details.forced.join("\n")).toContain("9.9.9 is not a version this checkout knows");
  });

  it("bad input: not a version exits 2, a missing overlay exits 1 with its path", async () => {
    const bad = await azora(["images", "update", "latest", "--overlays-dir", overlays], { DATA_DIR: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"latest" is not a version');
    const missing = await azora(["images", "update", packageVersion(), "--overlays-dir", join(dir, "nowhere"), "--no-audit"], { DATA_DIR: dir });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("No overlays in");
    // No installation in DATA_DIR: the overlays change, and the command says the audit row could not be written.
    const unaudited = await azora(["images", "update", packageVersion(), "--overlays-dir", overlays, "--no-audit", "--json"], { DATA_DIR: dir });
    expect(unaudited.code, unaudited.stderr).toBe(0);
    expect(JSON.parse(unaudited.stdout)).toMatchObject({ audited: false });
    expect(unaudited.stderr).toContain("The audit row images.update could not be written (No Azora OS data in");
    expect(await readFile(file("staging"), "utf8")).toContain(`newTag: ${packageVersion()}`);
  });

  it("summarises what the real registry answers npm audit --omit=dev for this installation's dependencies", async () => {
    const answer = await npmAuditAnswer(repoRoot);
    const result = await azora(["images", "update", packageVersion(), "--overlays-dir", overlays, "--dry-run", "--json"], { DATA_DIR: dir });
    expect(result.code, result.stderr).toBe(0);
    const { audit } = JSON.parse(result.stdout) as { audit: { ok: boolean; reason?: string } };
    if (answer.kind === "findings") expect(audit).toEqual({ ok: true, vulnerabilities: answer.vulnerabilities, total: answer.total });
    else {
      // A registry that serves packages but not npm's advisory endpoint (405 here): reached, and it refused.
      expect(answer.kind, JSON.stringify(answer)).toBe("refused");
      expect(audit.ok).toBe(false);
      expect(audit.reason).toContain(`the registry refused npm audit's request: ${answer.kind === "refused" ? answer.status : "?"}`);
      expect(audit.reason).not.toContain("could not reach");
      expect(audit.reason).not.toContain("://");
    }
  }, 180_000);

  it("summarises npm audit --omit=dev, and says so when the registry cannot be reached", async () => {
    // The wrapper, as the guide runs it, with npm pointed at a registry that refuses connections.
    const result = await runCli(["--overlays-dir", overlays, packageVersion()], { DATA_DIR: dir, npm_config_registry: "http://127.0.0.1:9/" }, join(repoRoot, "scripts/update-images.sh"));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/npm audit --omit=dev: (npm audit could not reach the registry: .*ECONNREFUSED|npm audit did not answer)/);
    const help = await runCli(["--help"], {}, join(repoRoot, "scripts/update-images.sh"));
    expect(help.stdout).toContain("--force");
  }, 120_000);
});
