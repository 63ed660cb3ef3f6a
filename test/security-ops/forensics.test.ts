import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditRepository } from "../../src/platform/audit/audit.repository.ts";
import { createIncidentsRepository } from "../../src/services/gateway/incidents.repository.ts";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { repoRoot } from "../helpers/cli.ts";
import { azora } from "../helpers/in-process-cli.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";
import { waitUntil } from "../helpers/wait.ts";

const run = promisify(execFile);

interface Summary {
  window: { since: string; until: string };
  counts: Record<string, number>;
  tokenReuse: { ip?: string; user?: string }[];
  affectedAccounts: { id: string; ips: string[]; counts: Record<string, number> }[];
  audit: { rows: number; chainVerified: boolean };
  bundle: string;
}

const attacker = "203.0.113.9";
const victimHome = "198.51.100.7";
const bystanderHome = "10.1.1.1";

describe.each(backends())("azora security forensics ($name)", (backend) => {
  let platform: TestPlatform;
  let env: Record<string, string>;
  let scratch: string;
  let incidentId: string;
  let victim: { id: string };
  let bystander: { id: string; email: string };
  beforeAll(async () => {
    platform = await startTestPlatform(backend, { TRUSTED_PROXIES: "loopback" });
    const { config } = platform;
    env = { DATA_DIR: platform.dataDir, ...(config.database.url ? { DATABASE_URL: config.database.url } : {}), ...(config.redis.url ? { REDIS_URL: config.redis.url, REDIS_KEY_PREFIX: config.redis.keyPrefix } : {}) };
    scratch = await mkdtemp(join(tmpdir(), "azora-forensics-"));
    // Named by its reference, as the guide names incidents (`azora incident declare` gives one).
    incidentId = `incident-2026-${100 + Math.floor(Math.random() * 900)}`;
    const declared = await createIncidentsRepository(platform.running.context.db).declare({ reference: incidentId, title: "Account takeover", impact: "major", severity: 2, service: "auth", message: "investigating", etaMinutes: null, at: new Date() });
    expect(declared.ok).toBe(true);

    const api = apiClient(platform.baseUrl);
    const from = (ip: string) => ({ "x-forwarded-for": ip });
    const login = (email: string, password: string, ip: string) => api.call("POST", "/api/auth/login", { json: { email, password }, headers: from(ip) });
    const newUser = async (name: string, ip: string) => {
      const email = `${name}-${Date.now()}@forensics.example`;
      const password = `correct horse ${name} battery`;
      await api.call("POST", "/api/auth/register", { json: { email, password }, headers: from(ip) });
      const session = await login(email, password, ip);
      const me = await api.call("GET", "/api/auth/me", { token: session.body.accessToken, headers: from(ip) });
      return { email, password, id: me.body.id as string, refreshToken: session.body.refreshToken as string };
    };
    // The victim and a bystander use the platform from home; an attacker guesses the victim's password, gets in,
    // reads, and replays a refresh token it stole.
    const victimUser = await newUser("victim", victimHome);
    bystander = await newUser("bystander", bystanderHome);
    victim = victimUser;
    for (let index = 0; index < 4; index++) await login(victimUser.email, `guess ${index}`, attacker);
    const stolen = await login(victimUser.email, victimUser.password, attacker);
    await api.call("GET", `/api/user/${victimUser.id}`, { token: stolen.body.accessToken, headers: from(attacker) });
    // Reuse, not a retry within the grace interval: the successor is used first, then the stolen token again.
    const successor = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: stolen.body.refreshToken }, headers: from(attacker) });
    await api.call("POST", "/api/auth/refresh", { json: { refreshToken: successor.body.refreshToken }, headers: from(attacker) });
    await api.call("POST", "/api/auth/refresh", { json: { refreshToken: stolen.body.refreshToken }, headers: from(attacker) });
    expect((await azora(["user", "promote", bystander.email], env)).code).toBe(0);
    // Log lines are written in batches (at least once a second).
    await waitUntil(async () => ((await readFile(join(platform.config.paths.logs, "auth.log"), "utf8").catch(() => "")).includes("TOKEN_REUSED") ? true : undefined), "TOKEN_REUSED in auth.log");
    await waitUntil(async () => ((await readFile(join(platform.config.paths.logs, "api.log"), "utf8").catch(() => "")).includes(attacker) ? true : undefined), "the attacker's requests in api.log");
  }, 300_000);
  afterAll(async () => {
    await platform?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it("builds the incident's timeline, affected accounts, verified audit rows and a checksummed bundle", async () => {
    const out = join(scratch, "bundle");
    const result = await azora(["security", "forensics", incidentId, "--out", out, "--json"], env);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.counts.login_failed).toBeGreaterThanOrEqual(4);
    expect(summary.counts.token_reuse).toBeGreaterThanOrEqual(1);
    expect(summary.tokenReuse[0]).toMatchObject({ ip: attacker, user: victim.id });
    const affected = summary.affectedAccounts.find((account) => account.id === victim.id);
    expect(affected?.ips).toEqual(expect.arrayContaining([attacker, victimHome]));
    // The bystander did nothing alarming, but was promoted: an admin action, so it is affected; nobody else is.
    expect(summary.affectedAccounts.map((account) => account.id).sort()).toEqual([victim.id, bystander.id].sort());
    expect(summary.audit.rows).toBeGreaterThanOrEqual(1);
    expect(summary.audit.chainVerified).toBe(true);

    // The bundle: every file listed in SHA256SUMS with its digest, the raw lines kept, readable by the owner only.
    const sums = (await readFile(join(out, "SHA256SUMS"), "utf8")).trim().split("\n");
    for (const line of sums) {
      const [digest, name = ""] = line.split("  ");
      expect(createHash("sha256").update(await readFile(join(out, name))).digest("hex"), name).toBe(digest);
    }
    expect(sums.map((line) => line.split("  ")[1])).toEqual(expect.arrayContaining(["report.md", "timeline.jsonl", "audit-rows.json", "logs/auth.log", "logs/api.log", "summary.json"]));
    expect(((await stat(join(out, "logs", "auth.log"))).mode & 0o077)).toBe(0);
    expect(await readFile(join(out, "logs", "auth.log"), "utf8")).toContain("TOKEN_REUSED");
    const report = await readFile(join(out, "report.md"), "utf8");
    expect(report).toContain(`| ${attacker} |`);
    expect(report).toContain("hash chain verified");
    expect(report).not.toContain("@forensics.example");
    // The analysis itself is in the audit log.
    const rows = await createAuditRepository(platform.running.context.db).latest(5);
    expect(rows.map((row) => row.action)).toContain("security.forensics");
    // A bundle is never mixed with older evidence.
    expect(await azora(["security", "forensics", incidentId, "--out", out], env)).toMatchObject({ code: 2, stderr: expect.stringContaining("not empty") });
    expect(await azora(["security", "forensics", incidentId, "--out", join(out, "report.md")], env)).toMatchObject({ code: 2, stderr: expect.stringContaining("not a directory") });
  });

  it("an incident not in the table needs --since/--until, and says so; with them the guide's script works", async () => {
    const refused = await azora(["security", "forensics", "incident-2025-001", "--out", join(scratch, "x")], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--since and --until");
    const out = join(scratch, "by-window");
    const { stdout } = await run(join(repoRoot, "scripts/forensic-analysis.sh"), ["incident-2025-001", "--since", "1h", "--out", out], { cwd: repoRoot, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_STDOUT: "false", ...env } });
    expect(stdout).toContain("# Forensic analysis of incident-2025-001");
    expect(stdout).toMatch(/Affected accounts: [12]/);
    expect(stdout).toContain("sha256sum -c SHA256SUMS");
    expect(await azora(["security", "forensics", "incident-2025-001", "--since", "whenever"], env)).toMatchObject({ code: 2, stderr: expect.stringContaining('--since "whenever"') });
  });
});
