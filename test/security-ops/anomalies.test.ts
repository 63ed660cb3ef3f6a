import { appendFile, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli.ts";
import type { Finding } from "../../src/services/security/anomalies.ts";
import { runAnomalies } from "../../src/ops/security-anomalies.ts";
import { defaultPolicyPath, loadPolicyFile } from "../../src/services/security/policy.ts";
import { waitUntil } from "../helpers/wait.ts";
import { attackers, LogDay, makeUsers, normalDay, plantBurst, plantSpraying, plantStuffing, plantTokenReuse } from "../helpers/security-logs.ts";

const start = Date.parse("2026-11-20T00:00:00Z");
const window = ["--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z"];

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["node", "azora", ...args], { out: (text) => out.push(text), err: (text) => err.push(text) }, { DATA_DIR: join(tmpdir(), "azora-unused") });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("azora security anomalies", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "azora-anomalies-"));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  describe("on a normal day of 100,000 events", () => {
    let dir: string;
    beforeAll(async () => {
      dir = await tempDir();
      const written = await normalDay({ start, events: 100_000 }).write(dir);
      expect(written).toBeGreaterThanOrEqual(100_000);
    });

    it("finds nothing, exits 0 and writes no SUSPICIOUS_ACTIVITY", async () => {
      const result = await run(["security", "anomalies", "--log-dir", dir, ...window, "--json"]);
      const report = JSON.parse(result.out) as { findings: Finding[]; linesRead: number; eventsConsidered: number };
      expect(report.findings).toEqual([]);
      expect(report.linesRead).toBeGreaterThanOrEqual(100_000);
      expect(report.eventsConsidered).toBeGreaterThan(4_000);
      expect(result.code).toBe(0);
      await expect(readFile(join(dir, "security.log"), "utf8").catch(() => "")).resolves.not.toContain("SUSPICIOUS_ACTIVITY");
    });
  });

  describe("with planted attacks", () => {
    let dir: string;
    const users = makeUsers(3_500, 11);
    const sprayed = users.slice(100, 140);
    const stuffed = users[200]!;
    const bursted = users.slice(300, 303);
    const reused = users[400]!;
    let findings: Finding[];
    let code: number;

    beforeAll(async () => {
      dir = await tempDir();
      const day = normalDay({ start, events: 100_000, users });
      plantSpraying(day, start + 3 * 3_600_000, sprayed);
      plantStuffing(day, start + 9 * 3_600_000, stuffed);
      plantBurst(day, start + 14 * 3_600_000, bursted);
      plantTokenReuse(day, start + 18 * 3_600_000, reused);
      await day.write(dir);
      const result = await run(["security", "anomalies", "--log-dir", dir, ...window, "--json"]);
      code = result.code;
      findings = (JSON.parse(result.out) as { findings: Finding[] }).findings;
    });

    const of = (kind: Finding["kind"]) => findings.filter((finding) => finding.kind === kind);

    it("exits 1", () => {
      expect(code).toBe(1);
    });

    it("finds the spraying run: its address and the 40 accounts", () => {
      const [spraying, ...more] = of("password_spraying");
      expect(more).toEqual([]);
      expect(spraying!.ips).toEqual([attackers.sprayer]);
      expect(spraying!.accounts).toEqual(sprayed.map((user) => user.account).sort());
    });

    it("finds the stuffing run: the one account and its 12 addresses", () => {
      const [stuffing, ...more] = of("credential_stuffing");
      expect(more).toEqual([]);
      expect(stuffing!.subject).toBe(stuffed.account);
      expect(stuffing!.userIds).toEqual([stuffed.id]);
      expect(stuffing!.ips).toEqual([...attackers.stuffingIps].sort());
    });

    it("finds the burst from one address, and each account it hammered", () => {
      const [burst, ...more] = of("failed_login_burst_ip");
      expect(more).toEqual([]);
      expect(burst!.subject).toBe(attackers.burster);
      expect(burst!.accounts).toEqual(bursted.map((user) => user.account).sort());
      expect(of("failed_login_burst_account").map((finding) => finding.subject).sort()).toEqual(bursted.map((user) => user.account).sort());
    });

    it("finds the token reuse with its user and address", () => {
      const [reuse, ...more] = of("token_reuse");
      expect(more).toEqual([]);
      expect(reuse!.userIds).toEqual([reused.id]);
      expect(reuse!.ips).toEqual([attackers.reuser]);
    });

    it("reports nothing else", () => {
      expect(findings.map((finding) => finding.kind).sort()).toEqual(
        ["credential_stuffing", "failed_login_burst_account", "failed_login_burst_account", "failed_login_burst_account", "failed_login_burst_ip", "password_spraying", "token_reuse"].sort(),
      );
    });

    it("wrote one SUSPICIOUS_ACTIVITY line per finding to security.log, with its evidence", async () => {
      const lines = (await readFile(join(dir, "security.log"), "utf8")).trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
      const suspicious = lines.filter((line) => line.event === "SUSPICIOUS_ACTIVITY");
      expect(suspicious).toHaveLength(findings.length);
      expect(suspicious.find((line) => line.kind === "password_spraying")).toMatchObject({ log: "security", ips: [attackers.sprayer], detector: "anomalies" });
    });

    it("prints a table naming each finding", async () => {
      const result = await run(["security", "anomalies", "--log-dir", dir, ...window, "--no-events"]);
      expect(result.code).toBe(1);
      expect(result.out).toMatch(/SEVERITY\s+KIND\s+SUBJECT/);
      expect(result.out).toContain(`password_spraying`);
      expect(result.out).toContain(attackers.burster);
    });

    it("finds nothing outside the window", async () => {
      const result = await run(["security", "anomalies", "--log-dir", dir, "--since", "2026-11-21T00:00:00Z", "--until", "2026-11-22T00:00:00Z", "--json", "--no-events"]);
      expect(result.code).toBe(0);
      expect(JSON.parse(result.out)).toMatchObject({ findings: [] });
    });
  });

  it("reads rotated and gzip-compressed files, and finds impossible travel", async () => {
    const dir = await tempDir();
    const [user] = makeUsers(1, 5);
    const line = (at: number, ip: string) => JSON.stringify({ level: "info", time: new Date(at).toISOString(), log: "auth", event: "LOGIN_SUCCEEDED", userId: user!.id, account: user!.account, ip });
    await writeFile(join(dir, "auth.log.2.gz"), gzipSync(`${line(start + 1000, "81.2.69.160")}\n`));
    await writeFile(join(dir, "auth.log.1"), `${line(start + 120_000, "175.45.176.3")}\n`);
    await writeFile(join(dir, "auth.log"), "");
    const result = await run(["security", "anomalies", "--log-dir", dir, ...window, "--json", "--no-events"]);
    expect(JSON.parse(result.out)).toMatchObject({ findings: [{ kind: "impossible_travel", userIds: [user!.id], ips: ["175.45.176.3", "81.2.69.160"] }] });
  });

  it("reads the files deployment/logrotate/azora and azora logs rotate leave, and a rotation caught while it compresses once", async () => {
    const dir = await tempDir();
    const [user] = makeUsers(1, 6);
    const line = (at: number, ip: string) => JSON.stringify({ level: "info", time: new Date(at).toISOString(), log: "auth", event: "LOGIN_SUCCEEDED", userId: user!.id, account: user!.account, ip });
    // Debian logrotate's name (dateext, dateformat -%Y%m%d-%s), then `azora logs rotate`'s.
    await writeFile(join(dir, "auth.log-20261120-1763600400.gz"), gzipSync(`${line(start + 1000, "81.2.69.160")}\n`));
    await writeFile(join(dir, "auth.log.20261120T001000Z.gz"), gzipSync(`${line(start + 120_000, "175.45.176.3")}\n`));
    // logrotate compressing the next rotation: the plain file and its gzip side by side, the same line in both.
    const later = `${line(start + 7_200_000, "175.45.176.3")}\n`;
    await writeFile(join(dir, "auth.log-20261120-1763607600"), later);
    await writeFile(join(dir, "auth.log-20261120-1763607600.gz"), gzipSync(later));
    await writeFile(join(dir, "auth.log"), "");
    const result = await run(["security", "anomalies", "--log-dir", dir, ...window, "--json", "--no-events"]);
    const report = JSON.parse(result.out) as { files: string[]; eventsConsidered: number; findings: Finding[] };
    expect(report.findings).toMatchObject([{ kind: "impossible_travel", userIds: [user!.id], ips: ["175.45.176.3", "81.2.69.160"] }]);
    expect(report.eventsConsidered).toBe(3);
    expect(report.files.map((file) => file.slice(dir.length + 1)).sort()).toEqual(["auth.log", "auth.log-20261120-1763600400.gz", "auth.log-20261120-1763607600", "auth.log.20261120T001000Z.gz"]);
  });

  it("answers bad input with a clear message and exit 2", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "bad-policy.yaml"), "version: 1\nanomalies: { failedLoginBurst: { perIp: -3 } }\n");
    expect(await run(["security", "anomalies", "--log-dir", dir, "--since", "last tuesday"])).toMatchObject({ code: 2, err: expect.stringContaining('--since "last tuesday"') });
    expect(await run(["security", "anomalies", "--log-dir", join(dir, "missing")])).toMatchObject({ code: 2, err: expect.stringContaining("does not exist") });
    const badPolicy = await run(["security", "anomalies", "--log-dir", dir, "--policy", join(dir, "bad-policy.yaml")]);
    expect(badPolicy.code).toBe(2);
    expect(badPolicy.err).toContain("anomalies.failedLoginBurst.perIp");
    expect(badPolicy.err).toContain("lockout");
    expect(await run(["security", "anomalies", "--bogus"])).toMatchObject({ code: 2 });
  });
});

describe("azora security anomalies --follow", () => {
  it("reports a finding once its lines are appended, and each finding only once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "azora-follow-"));
    try {
      await writeFile(join(dir, "auth.log"), "");
      const policy = await loadPolicyFile(defaultPolicyPath);
      if (!policy.ok) throw new Error(policy.problems.join("; "));
      const out: string[] = [];
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const now = Date.now();
      const running = runAnomalies(
        { logDir: dir, since: now - 3_600_000, until: now, policy: policy.policy, json: true, events: true, follow: true, pollMs: 50, stopped },
        { out: (text) => out.push(text), err: () => {} },
      );
      await waitUntil(async () => (out.length >= 1 ? true : undefined), "the first report");
      expect(JSON.parse(out[0]!)).toMatchObject({ findings: [], window: { until: null } });
      const [user] = makeUsers(1, 9);
      const day = new LogDay(Date.now());
      day.tokenReused(Date.now(), attackers.reuser, user!, "family-followed");
      await day.write(dir);
      await waitUntil(async () => (out.length >= 2 ? true : undefined), "the followed finding");
      expect(JSON.parse(out[1]!)).toMatchObject({ kind: "token_reuse", subject: "family-followed", ips: [attackers.reuser] });
      await new Promise((resolve) => setTimeout(resolve, 200));
      stop();
      expect(await running).toBe(1);
      expect(out).toHaveLength(2);
      expect(await readFile(join(dir, "security.log"), "utf8")).toContain("family-followed");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reads a new auth.log from its start after a rotation, even once it has grown past where the old one was read to", async () => {
    const dir = await mkdtemp(join(tmpdir(), "azora-follow-"));
    const staging = await mkdtemp(join(tmpdir(), "azora-follow-next-"));
    try {
      const quiet = (count: number) => `${JSON.stringify({ level: 30, time: new Date().toISOString(), log: "auth", service: "auth", msg: "nothing to see" })}\n`.repeat(count);
      await writeFile(join(dir, "auth.log"), quiet(20));
      const policy = await loadPolicyFile(defaultPolicyPath);
      if (!policy.ok) throw new Error(policy.problems.join("; "));
      const out: string[] = [];
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const now = Date.now();
      const running = runAnomalies(
        { logDir: dir, since: now - 3_600_000, until: now, policy: policy.policy, json: true, events: false, follow: true, pollMs: 50, stopped },
        { out: (text) => out.push(text), err: () => {} },
      );
      await waitUntil(async () => (out.length >= 1 ? true : undefined), "the first report");
      // The next auth.log, complete before it takes the live name (as after a reopen and a burst of writes):
      // the reuse first, then more lines than the old file had, so its size is past the old offset.
      const [user] = makeUsers(1, 9);
      const day = new LogDay(Date.now());
      day.tokenReused(Date.now(), attackers.reuser, user!, "family-after-rotation");
      await day.write(staging);
      await appendFile(join(staging, "auth.log"), quiet(40));
      expect((await stat(join(staging, "auth.log"))).size).toBeGreaterThan((await stat(join(dir, "auth.log"))).size);
      await rename(join(dir, "auth.log"), join(dir, "auth.log.1"));
      await rename(join(staging, "auth.log"), join(dir, "auth.log"));
      await waitUntil(async () => (out.length >= 2 ? true : undefined), "the finding in the new auth.log");
      expect(JSON.parse(out[1]!)).toMatchObject({ kind: "token_reuse", subject: "family-after-rotation" });
      stop();
      expect(await running).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(staging, { recursive: true, force: true });
    }
  });
});
