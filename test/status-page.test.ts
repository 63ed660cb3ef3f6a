import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIncidentsRepository } from "../src/services/gateway/incidents.repository.ts";
import { createMaintenanceRepository } from "../src/services/gateway/maintenance.repository.ts";
import { metricValue } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";
import { chromiumFlags, toolAvailability } from "./helpers/tools.ts";
import { waitUntil } from "./helpers/wait.ts";

const run = promisify(execFile);
const chromium = toolAvailability("chromium", "chromium");

interface StatusJson {
  status: string;
  components: { name: string; status: string }[];
  maintenance: { message: string } | null;
  incidents: { title: string; impact: string }[];
}

describe("public status page", () => {
  let platform: TestPlatform;
  let shots: string;
  beforeAll(async () => {
    platform = await startTestPlatform(backends()[0]!);
    shots = await mkdtemp(join(tmpdir(), "azora-status-"));
  });
  afterAll(async () => {
    await platform?.stop();
    if (shots) await rm(shots, { recursive: true, force: true });
  });

  const statusJson = async () => (await (await fetch(`${platform.baseUrl}/status.json`)).json()) as StatusJson;

  it("publishes every component as operational, with no incidents, as HTML and JSON", async () => {
    const json = await statusJson();
    expect(json.status).toBe("operational");
    expect(json.components.map((component) => [component.name, component.status])).toEqual([
      ["gateway", "operational"],
      ["auth", "operational"],
      ["users", "operational"],
    ]);
    expect(json.incidents).toEqual([]);
    const page = await fetch(`${platform.baseUrl}/status`);
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    expect(html).toContain("All systems operational");
    expect(html).toContain("No incidents reported.");
    expect(html).not.toContain("<script");
  });

  it("answers public health and status from one result a second, however many ask", async () => {
    const healthCalls = async () => metricValue(await (await fetch(`${platform.opsUrl}/metrics`)).text(), "http_requests_total", { service: "users", route: "/health" });
    const before = await healthCalls();
    await Promise.all(Array.from({ length: 60 }, (_, i) => fetch(`${platform.baseUrl}${i % 2 ? "/health" : "/status.json"}`).then((response) => response.text())));
    // 60 public requests within a second or two: one upstream health call per second they span.
    expect((await healthCalls()) - before).toBeLessThanOrEqual(5);
  });

  it.runIf(chromium.run)("renders in headless Chromium with the maintenance banner and an open incident", async () => {
    const db = platform.running.context.db;
    await createIncidentsRepository(db).open({
      title: "Elevated error rates on <sign-in>",
      impact: "major",
      message: "Some sign-in attempts fail. We have identified the cause and are rolling out a fix.",
      components: ["auth"],
    });
    await createMaintenanceRepository(db).write({ enabled: true, message: "Database upgrade in progress, back by 14:00 UTC.", retryAfterSeconds: 600 });
    await waitUntil(async () => ((await statusJson()).status === "maintenance" ? true : undefined), "the status page to show maintenance");
    const json = await statusJson();
    expect(json.maintenance?.message).toBe("Database upgrade in progress, back by 14:00 UTC.");
    expect(json.incidents).toMatchObject([{ title: "Elevated error rates on <sign-in>", impact: "major" }]);

    const { stdout: dom } = await run("chromium", [...chromiumFlags, "--dump-dom", `${platform.baseUrl}/status`], { timeout: 120_000 });
    expect(dom).toContain("Under maintenance");
    expect(dom).toContain("Database upgrade in progress, back by 14:00 UTC.");
    // The title is shown as text: escaped, never markup.
    expect(dom).toContain("Elevated error rates on &lt;sign-in&gt;");
    expect(dom).toContain("Sign-in and accounts");
    expect(dom).toMatch(/class="banner maintenance"><span class="dot"><\/span>Under maintenance/);

    const screenshot = join(shots, "status.png");
    await run("chromium", [...chromiumFlags, `--screenshot=${screenshot}`, "--window-size=1200,1000", `${platform.baseUrl}/status`], { timeout: 120_000 });
    const png = await readFile(screenshot);
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    expect(png.length).toBeGreaterThan(10_000);
    if (process.env.STATUS_SCREENSHOT) await import("node:fs/promises").then((fs) => fs.copyFile(screenshot, process.env.STATUS_SCREENSHOT!));
  });
});
