import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli.ts";
import type { Finding } from "../../src/services/security/anomalies.ts";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";

/** The detectors read what the running platform really writes: the same fields the generator writes. */
describe.each(backends())("security detectors on the platform's own logs on $name", (backend) => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform(backend);
  });
  afterAll(async () => {
    await platform?.stop();
  });

  it("a burst of wrong passwords against one account and a refresh-token reuse are found, with no email in clear", async () => {
    const api = apiClient(platform.baseUrl);
    const victim = await api.newUser("victim");
    for (let attempt = 0; attempt < 10; attempt++) await api.call("POST", "/api/auth/login", { json: { email: victim.email, password: "wrong-password" } });
    // Reuse, not a retry within the grace interval: the successor is used first, then the old token again.
    const successor = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: victim.refreshToken } });
    await api.call("POST", "/api/auth/refresh", { json: { refreshToken: successor.body.refreshToken } });
    await api.call("POST", "/api/auth/refresh", { json: { refreshToken: victim.refreshToken } });
    await api.get(`/api/user/${victim.id}`, victim.accessToken);
    platform.running.context.logs.flush();

    const logDir = platform.config.paths.logs;
    const auth = await readFile(join(logDir, "auth.log"), "utf8");
    expect(auth).not.toContain(victim.email);
    const failed = auth.split("\n").filter((line) => line.includes("LOGIN_FAILED")).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(failed).toHaveLength(10);
    expect(new Set(failed.map((line) => line.account)).size).toBe(1);
    expect(failed[0]!.account).toMatch(/^[0-9a-f]{16}$/);
    const access = (await readFile(join(logDir, "api.log"), "utf8")).split("\n").filter((line) => line.includes(`/api/user/${victim.id}`));
    expect(JSON.parse(access[0]!)).toMatchObject({ user: victim.id, ip: expect.any(String), tokenId: expect.any(String) });

    const out: string[] = [];
    const code = await main(["node", "azora", "security", "anomalies", "--log-dir", logDir, "--since", "1h", "--json"], { out: (text) => out.push(text), err: () => {} }, {
      DATA_DIR: platform.dataDir,
    });
    expect(code).toBe(1);
    const findings = (JSON.parse(out.join("")) as { findings: Finding[] }).findings;
    expect(findings.find((finding) => finding.kind === "failed_login_burst_account")).toMatchObject({ subject: failed[0]!.account, userIds: [victim.id], events: 10 });
    expect(findings.find((finding) => finding.kind === "token_reuse")).toMatchObject({ userIds: [victim.id] });
    expect(await readFile(join(logDir, "security.log"), "utf8")).toContain("SUSPICIOUS_ACTIVITY");
  });
});
