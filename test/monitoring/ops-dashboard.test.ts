import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Figures } from "../../src/platform/dashboard/figures.ts";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { azora } from "../helpers/in-process-cli.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";
import { decodePng } from "../helpers/png.ts";
import { chromiumFlags, toolAvailability } from "../helpers/tools.ts";
import { waitUntil } from "../helpers/wait.ts";

const run = promisify(execFile);
const chromium = toolAvailability("chromium", "chromium");

describe("the built-in operations dashboard", () => {
  let platform: TestPlatform;
  let shots: string;
  const bearer = () => ({ authorization: `Bearer ${platform.running.opsToken}` });
  const figures = async () => (await (await fetch(`${platform.opsUrl}/dashboard.json`, { headers: bearer() })).json()) as Figures;

  beforeAll(async () => {
    // Readings every 200 ms instead of every 10 s, so that an hour's chart has points within the test.
    platform = await startTestPlatform(backends()[0]!, { METRICS_SAMPLE_MS: "200" });
    shots = await mkdtemp(join(tmpdir(), "azora-dashboard-"));
    const api = apiClient(platform.baseUrl);
    const user = await api.newUser("dashboard");
    for (let round = 0; round < 5; round++) {
      await api.get(`/api/user/${user.id}`, user.accessToken);
      await api.get("/api/content", user.accessToken);
      await api.call("POST", "/api/auth/login", { json: { email: user.email, password: "wrong-password" } });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await waitUntil(async () => ((await figures()).sampleCount >= 10 ? true : undefined), "ten readings");
  });
  afterAll(async () => {
    await platform?.stop();
    if (shots) await rm(shots, { recursive: true, force: true });
  });

  it("answers 401 without the ops token, with a challenge a browser answers", async () => {
    for (const path of ["/dashboard", "/dashboard.json"]) {
      const anonymous = await fetch(`${platform.opsUrl}${path}`);
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as any).error.code).toBe("unauthorized");
      const wrong = await fetch(`${platform.opsUrl}${path}`, { headers: { authorization: "Bearer not-the-token" } });
      expect(wrong.status).toBe(401);
    }
    expect((await fetch(`${platform.opsUrl}/dashboard`)).headers.get("www-authenticate")).toMatch(/^Basic realm=/);
    const basic = Buffer.from(`ops:${platform.running.opsToken}`).toString("base64");
    expect((await fetch(`${platform.opsUrl}/dashboard`, { headers: { authorization: `Basic ${basic}` } })).status).toBe(200);
    // Nothing of the ops port answers on the public port.
    expect((await fetch(`${platform.baseUrl}/dashboard`, { headers: bearer() })).status).toBe(404);
  });

  it("has the guide's key metrics from the traffic: rate, errors and p95 per service, users, connections, failed logins, cache hits", async () => {
    const now = await figures();
    expect(now.services).toEqual(expect.arrayContaining(["auth", "users"]));
    expect(Math.max(...Object.values(now.current.requestRate))).toBeGreaterThan(0);
    expect(now.current.p95Seconds.users).toBeGreaterThan(0);
    expect(now.current.errorRatio.users).toBe(0);
    expect(now.current.activeUsers).toBeGreaterThanOrEqual(1);
    expect(now.current.dbConnectionsMax).toBeGreaterThanOrEqual(1);
    expect(now.current.loginFailureRate).toBeGreaterThan(0);
    expect(now.current.cacheHitRatio).toBeGreaterThan(0);
    expect(now.current.diskFreeRatio).toBeGreaterThan(0);
    expect(now.series.requestRate.users!.some((value) => value > 0)).toBe(true);
    // Pending, not firing: the buffer is seconds old, every `for` is minutes. A restore drill has never run (the
    // gauge reads 0), so RestoreDrillStale holds. The rest depends on how fast this machine is: five failed
    // logins within 10 s are above 0.5/s, and a loaded machine can push the auth p95 above 2 s. Each alert
    // present must agree with the figures; a platform without backups raises BackupStale only after
    // running 26 hours (its process clause), so not here.
    expect(now.alerts.every(({ state }) => state === "pending")).toBe(true);
    expect(now.alerts.find(({ alert }) => alert === "RestoreDrillStale")?.subject).toBe("never drilled");
    const raised = new Set(now.alerts.map(({ alert }) => alert));
    expect([...raised].every((alert) => ["RestoreDrillStale", "LoginFailureSurge", "HighResponseTime"].includes(alert)), [...raised].join()).toBe(true);
    expect(raised.has("LoginFailureSurge")).toBe(now.current.loginFailureRate > 0.5);
  });

  it("is plain HTML and SVG without script, with a line per chart", async () => {
    const response = await fetch(`${platform.opsUrl}/dashboard`, { headers: bearer() });
    expect(response.headers.get("content-type")).toContain("text/html");
    const html = await response.text();
    expect(html).not.toContain("<script");
    // Nothing may run, load, submit or frame it; and it is never cached (the figures are behind the token).
    const csp = response.headers.get("content-security-policy") ?? "";
    for (const directive of ["default-src 'none'", "img-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"]) expect(csp).toContain(directive);
    expect(csp).not.toMatch(/script-src|unsafe-eval/);
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("cache-control")).toBe("no-store");
    for (const title of ["Request rate", "Error rate (5xx)", "p95 response time", "Active users", "Database connections", "Failed logins", "Cache hit ratio"]) {
      expect(html).toContain(`aria-label="${title}"`);
    }
    expect(html).toMatch(/<polyline class="series" data-series="users"[^>]* points="[\d.]+,[\d.]+ [\d.]+,[\d.]+/);
  });

  it("azora metrics prints the same figures, as a table and as one JSON document", async () => {
    const env = { DATA_DIR: platform.dataDir };
    const table = await azora(["metrics"], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^users\s+[\d.]+\/s\s+0 %\s+\d+ ms/m);
    expect(table.stdout).toMatch(/^  PENDING +RestoreDrillStale \(warning\) never drilled: /m);
    expect(table.stdout).toMatch(/^last restore drill +never$/m);
    const json = await azora(["metrics", "--json"], env);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as Figures;
    expect(parsed.services).toEqual(expect.arrayContaining(["users"]));
    const unreachable = await azora(["metrics", "--ops-url", "http://127.0.0.1:1"], env);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("unreachable");
  });

  it.runIf(chromium.run)("renders in headless Chromium with non-empty charts", async () => {
    // The token goes in a header of this process's own request, never into a URL or a command line (where
    // any user of the machine reads it in `ps`): the page is fetched with it and Chromium renders the
    // answer from a private file. The page is self-contained (inline SVG and CSS, no script, no other
    // resource), so the file renders exactly what the ops port served.
    const token = platform.running.opsToken;
    const response = await fetch(`${platform.opsUrl}/dashboard`, { headers: bearer() });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).not.toContain(token);
    expect(html).not.toMatch(/<(script|link|img|iframe)\b/i);
    const page = join(shots, "dashboard.html");
    await writeFile(page, html, { mode: 0o600 });
    const screenshot = join(shots, "dashboard.png");
    const args = [...chromiumFlags, `--screenshot=${screenshot}`, "--window-size=1200,1400", pathToFileURL(page).href];
    expect(args.join(" ")).not.toContain(token);
    await run("chromium", args, { timeout: 120_000 });
    const png = decodePng(await readFile(screenshot));
    // The first series colour (#2563eb) drawn as lines: many pixels of it, in more than one chart row.
    const rows = new Set<number>();
    let lit = 0;
    for (let y = 0; y < png.height; y++) {
      for (let x = 0; x < png.width; x++) {
        const [r, g, b] = png.pixel(x, y);
        if (Math.abs(r - 0x25) < 30 && Math.abs(g - 0x63) < 30 && Math.abs(b - 0xeb) < 30) {
          lit++;
          rows.add(Math.floor(y / 100));
        }
      }
    }
    expect(lit).toBeGreaterThan(200);
    expect(rows.size).toBeGreaterThan(2);
    if (process.env.DASHBOARD_SCREENSHOT) await import("node:fs/promises").then((fs) => fs.copyFile(screenshot, process.env.DASHBOARD_SCREENSHOT!));
  });
});
