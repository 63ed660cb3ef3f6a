import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startChildPlatform, type ChildPlatform } from "./helpers/child-platform.ts";
import { azoraBin, repoRoot } from "./helpers/cli.ts";
import { azora } from "./helpers/in-process-cli.ts";
import { allLogLines, probeLoad } from "./helpers/log-lines.ts";
import { makeDataDir, unlimited } from "./helpers/platform.ts";
import { toolAvailability } from "./helpers/tools.ts";

const probePaths = (lines: string[]) => lines.map((line) => /"path":"\/api\/rotation-probe\/(\d+)"/.exec(line)?.[1]).filter((index) => index !== undefined);

/** Every probe request answered appears exactly once across the current and the rotated files. */
async function expectEveryLineOnce(logDir: string, sent: number) {
  const seen = probePaths(await allLogLines(logDir, "api"));
  expect(new Set(seen).size).toBe(seen.length);
  expect(seen.length).toBe(sent);
}

// Rotation is file moves and a signal, the same on every backend: the embedded default only.
describe("azora logs rotate while the platform writes", () => {
  let platform: ChildPlatform;
  let logDir: string;
  beforeAll(async () => {
    platform = await startChildPlatform({ via: "azora", env: unlimited });
    logDir = join(platform.dataDir, "logs");
  }, 900_000);
  afterAll(async () => platform?.dispose());

  it("moves, has the platform reopen, gzips, and loses no line written during the rotation", async () => {
    const load = probeLoad(platform.baseUrl, "/api/rotation-probe");
    await eventually(() => load.sent() > 200, 60_000);
    const first = await azora(["logs", "rotate", "--force", "--json"], { DATA_DIR: platform.dataDir });
    expect(first.code, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report.writer).toEqual({ pid: platform.pid, reopened: true });
    expect(report.rotated.map((entry: { stream: string }) => entry.stream).sort()).toEqual(["api", "auth", "security"]);
    for (const entry of report.rotated) expect(entry.file).toMatch(/\.log\.\d{8}T\d{6}Z(-\d+)?\.gz$/);
    // The rotation is in the audit log, written through the running platform that holds the data.
    const audit = JSON.parse((await azora(["audit", "tail", "-n", "20", "--json"], { DATA_DIR: platform.dataDir })).stdout) as { action: string; details: { rotated: { stream: string }[] } }[];
    expect(audit.find((row) => row.action === "logs.rotate")?.details.rotated.map((entry) => entry.stream).sort()).toEqual(["api", "auth", "security"]);
    await eventually(() => load.sent() > 400, 60_000);
    // api.log is written in 64 KiB blocks at least every second: a rotation within that second of the first
    // finds it still empty and keeps it (no line is lost, they reach it at the next write). Wait for a block.
    await eventually(async () => (await stat(join(logDir, "api.log"))).size > 0, 10_000);
    const second = await azora(["logs", "rotate", "--force", "--keep", "5"], { DATA_DIR: platform.dataDir });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain("rotated api.log (forced");
    await eventually(() => load.sent() > 600, 60_000);
    const sent = await load.stop();
    // The access log is written in 64 KiB blocks at least every second: wait for the last block.
    await eventually(async () => probePaths(await allLogLines(logDir, "api")).length >= sent, 10_000);
    await expectEveryLineOnce(logDir, sent);
    expect((await readdir(logDir)).filter((name) => name.startsWith("api.log.") && name.endsWith(".gz"))).toHaveLength(2);
  }, 300_000);

  const logrotate = toolAvailability("logrotate", "logrotate");
  it.runIf(logrotate.run)(`deployment/logrotate/azora works with Debian's logrotate under load ${logrotate.reason}`, async () => {
    // The shipped file, pointed at this data directory and this checkout's CLI (and run as this user).
    const shipped = await readFile(join(repoRoot, "deployment/logrotate/azora"), "utf8");
    const config = shipped
      .replaceAll("/var/lib/azora", platform.dataDir)
      .replaceAll("/usr/local/bin/azora", azoraBin)
      .replace(/^\s*su .*$/m, "");
    const configPath = join(platform.dataDir, "logrotate.conf");
    await writeFile(configPath, config, { mode: 0o644 });
    const before = probePaths(await allLogLines(logDir, "api")).length;

    const load = probeLoad(platform.baseUrl, "/api/rotation-probe-lr");
    await eventually(() => load.sent() > 200, 60_000);
    execFileSync("logrotate", ["--force", "--state", join(platform.dataDir, "logrotate.state"), configPath], { encoding: "utf8" });
    await eventually(() => load.sent() > 400, 60_000);
    const sent = await load.stop();

    const rotated = (await readdir(logDir)).filter((name) => /^api\.log-\d{8}-\d+\.gz$/.test(name));
    expect(rotated).toHaveLength(1);
    const count = async () => (await allLogLines(logDir, "api")).filter((line) => line.includes('"path":"/api/rotation-probe-lr/')).length;
    await eventually(async () => (await count()) >= sent, 10_000);
    expect(await count()).toBe(sent);
    expect(probePaths(await allLogLines(logDir, "api")).length).toBe(before);
    expect(await readFile(join(logDir, "api.log"), "utf8")).toContain('"event":"logs_reopened"');
  }, 300_000);
});

describe("azora logs rotate: limits, pruning and bad input", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await makeDataDir();
  });
  afterAll(async () => rm(dataDir, { recursive: true, force: true }));

  it("rotates by size and by age, keeps the newest N and says that no platform was signalled", async () => {
    const logDir = join(dataDir, "logs");
    await mkdir(logDir, { recursive: true });
    const old = new Date(Date.now() - 3 * 86_400_000).toISOString();
    await writeFile(join(logDir, "api.log"), `${JSON.stringify({ time: new Date().toISOString(), msg: "x".repeat(2000) })}\n`);
    await writeFile(join(logDir, "auth.log"), `${JSON.stringify({ time: old, event: "LOGIN_FAILED" })}\n`);
    await writeFile(join(logDir, "security.log"), `${JSON.stringify({ time: new Date().toISOString() })}\n`);
    for (const day of ["20261101", "20261102", "20261103"]) await writeFile(join(logDir, `auth.log.${day}T000000Z.gz`), "");

    const dry = await azora(["logs", "rotate", "--max-size", "1k", "--max-age", "2d", "--keep", "2", "--dry-run", "--json"], { DATA_DIR: dataDir });
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout).rotated.map((entry: { stream: string }) => entry.stream)).toEqual(["api", "auth"]);
    expect(await readdir(logDir)).toContain("api.log");

    const run = await azora(["logs", "rotate", "--max-size", "1k", "--max-age", "2d", "--keep", "2"], { DATA_DIR: dataDir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/rotated api\.log \(size/);
    expect(run.stdout).toMatch(/rotated auth\.log \(age/);
    expect(run.stdout).toContain("kept security.log: below size and age limits");
    expect(run.stderr).toContain("No running platform was signalled");
    const names = await readdir(logDir);
    expect(names.filter((name) => name.startsWith("auth.log.")).sort()).toEqual([expect.stringMatching(/^auth\.log\.20261103T000000Z\.gz$/), expect.stringMatching(/^auth\.log\.\d{8}T\d{6}Z\.gz$/)].sort());
    expect(names).not.toContain("auth.log.20261101T000000Z.gz");
  });

  it("refuses bad sizes, ages, counts and pids with exit 2, and answers --help", async () => {
    for (const args of [["--max-size", "lots"], ["--max-age", "1y"], ["--keep", "-1"], ["--pid", "abc"]]) {
      const result = await azora(["logs", "rotate", ...args], { DATA_DIR: dataDir });
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(/takes/);
    }
    const help = await azora(["logs", "rotate", "--help"], { DATA_DIR: dataDir });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--max-size");
    const wrapper = execFileSync(join(repoRoot, "scripts/logrotate.sh"), ["--help"], { encoding: "utf8" });
    expect(wrapper).toContain("--keep");
  });
});
