import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli.ts";
import type { AccessUsage } from "../../src/services/security/access.ts";
import type { Finding } from "../../src/services/security/anomalies.ts";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { startTestPlatform } from "../helpers/platform.ts";
import { LogDay, makeUsers, normalDay, type LogUser } from "../helpers/security-logs.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** A Friday. */
const start = Date.parse("2026-11-20T00:00:00Z");
const window = ["--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z"];
const [alice, bob, newcomer, locked] = makeUsers(4, 31) as [LogUser, LogUser, LogUser, LogUser];

async function run(args: string[], env: Record<string, string> = { DATA_DIR: join(tmpdir(), "azora-unused") }) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["node", "azora", ...args], { out: (text) => out.push(text), err: (text) => err.push(text) }, env);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** Two admins who work office hours from home, granted weeks ago; a normal day of users around them. */
function normalWeeks(): LogDay {
  const day = normalDay({ start, events: 20_000, seed: 41 });
  const role = (at: number, user: LogUser, value: string) =>
    day.lines.push({ at, file: "security", fields: { level: "info", event: "ROLE_CHANGED", userId: user.id, email: user.maskedEmail, role: value, actor: "cli", msg: "role changed" } });
  role(start - 20 * DAY, alice, "admin");
  role(start - 20 * DAY, bob, "admin");
  for (let back = 14; back >= 0; back--) {
    const morning = start - back * DAY + 9 * HOUR;
    if ([0, 6].includes(new Date(morning).getUTCDay())) continue;
    for (const admin of [alice, bob]) {
      day.loginSucceeded(morning, admin.home, admin);
      for (let request = 0; request < 20; request++) day.access(morning + request * 60_000, admin.home, "GET", "/api/user/:id", `/api/user/${request}`, 200, admin.id, `jti-${admin.id}-${back}`);
    }
  }
  return day;
}

describe("azora security access-monitor", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "azora-access-"));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("reports admin and ops-token use, and nothing unusual, on normal days", async () => {
    const dir = await tempDir();
    const day = normalWeeks();
    day.lines.push({ at: start + 10 * HOUR, file: "api", fields: { level: "info", event: "OPS_TOKEN_USED", requestId: "r-ops", ip: "127.0.0.1", command: "backup", msg: "ops token used" } });
    await day.write(dir);
    const result = await run(["security", "access-monitor", "--log-dir", dir, ...window, "--json", "--no-events"]);
    const report = JSON.parse(result.out) as { usage: AccessUsage; findings: Finding[] };
    expect(report.findings).toEqual([]);
    expect(result.code).toBe(0);
    expect(report.usage.opsToken).toEqual({ uses: 1, ips: ["127.0.0.1"], commands: ["backup"] });
    expect(report.usage.admins).toEqual(
      [alice, bob].map((admin) => ({ userId: admin.id, requests: 20, logins: 1, ips: [admin.home] })).sort((a, b) => a.userId.localeCompare(b.userId)),
    );
  });

  it("finds a new admin grant, a disabled account's login, off-hours admin access and an admin login from a new network", async () => {
    const dir = await tempDir();
    const day = normalWeeks();
    day.lines.push({ at: start + 11 * HOUR, file: "security", fields: { level: "info", event: "ROLE_CHANGED", userId: newcomer.id, role: "admin", actor: "cli", msg: "role changed" } });
    day.loginFailed(start + 12 * HOUR, "198.51.100.5", locked, "disabled");
    day.access(start + 2 * HOUR, alice.home, "GET", "/api/user/:id", `/api/user/${bob.id}`, 200, alice.id, "jti-night");
    day.loginSucceeded(start + 13 * HOUR, "203.0.113.200", bob);
    await day.write(dir);
    const result = await run(["security", "access-monitor", "--log-dir", dir, ...window, "--json"]);
    expect(result.code).toBe(1);
    const findings = (JSON.parse(result.out) as { findings: Finding[] }).findings;
    expect(findings.map(({ kind, subject }) => ({ kind, subject }))).toEqual([
      { kind: "off_hours_admin_access", subject: alice.id },
      { kind: "admin_granted", subject: newcomer.id },
      { kind: "disabled_account_login", subject: locked.account },
      { kind: "admin_login_new_network", subject: bob.id },
    ]);
    expect(findings.find((finding) => finding.kind === "admin_login_new_network")!.ips).toEqual(["203.0.113.200"]);
    const text = await run(["security", "access-monitor", "--log-dir", dir, ...window, "--no-events"]);
    expect(text.out).toContain(`Admin ${alice.id}`);
    expect(text.out).toContain("admin_login_new_network");
  });

  it("answers bad input with exit 2", async () => {
    expect(await run(["security", "access-monitor", "--since", "tomorrow-ish"])).toMatchObject({ code: 2 });
  });

  it("also watches the accounts that hold the admin role in the database (granted before the logs it reads)", async () => {
    const platform = await startTestPlatform(backends()[0]!);
    try {
      const api = apiClient(platform.baseUrl);
      const admin = await api.newUser("old-admin");
      // Granted long ago: no ROLE_CHANGED line in the logs read.
      await platform.running.context.db.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
      expect((await api.get("/api/auth/me", admin.accessToken)).status).toBe(200);
      platform.running.context.logs.flush();
      const env = { DATA_DIR: platform.dataDir, ...(platform.config.database.url ? { DATABASE_URL: platform.config.database.url } : {}) };
      const result = await run(["security", "access-monitor", "--since", "1h", "--json", "--no-events"], env);
      const report = JSON.parse(result.out) as { usage: AccessUsage };
      expect(report.usage.admins.map((entry) => entry.userId)).toContain(admin.id);
    } finally {
      await platform.stop();
    }
  }, 300_000);
});
