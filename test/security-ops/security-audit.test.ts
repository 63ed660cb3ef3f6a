import { chmod, cp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closePlatform, openPlatform } from "../../src/platform/context.ts";
import { backends } from "../helpers/backends.ts";
import { azora } from "../helpers/in-process-cli.ts";
import { kubernetesDir } from "../helpers/kubernetes.ts";
import { makeDataDir, startTestPlatform, testConfig, type TestPlatform } from "../helpers/platform.ts";
import { toolAvailability } from "../helpers/tools.ts";

const kubectl = toolAvailability("kubectl", "kubernetes-client");

interface Report {
  counts: { high: number; medium: number; low: number };
  findings: { check: string; severity: string; title: string; evidence: string; fix: string }[];
  notChecked: { check: string; reason: string }[];
}

/** A web server that answers like a careless proxy: no security headers, and it names its software. */
async function bareServer(): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) => response.writeHead(200, { "x-powered-by": "Express 4.17.1" }).end("ok"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe.each(backends())("azora security audit ($name)", (backend) => {
  let platform: TestPlatform;
  let provisioned: { env: Record<string, string>; dispose(): Promise<void> };
  let dataDir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    provisioned = await backend.provision();
    platform = await startTestPlatform(backend, { TRUSTED_PROXIES: "loopback" }, { provisioned });
    dataDir = platform.dataDir;
    env = { DATA_DIR: dataDir, TRUSTED_PROXIES: "loopback", ...provisioned.env };
  }, 300_000);
  afterAll(async () => {
    await platform?.running.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    await provisioned?.dispose();
  });

  it("a default platform has no high finding; what was not checked is said", async () => {
    const result = await azora(["security", "audit", "--url", platform.baseUrl, "--skip-npm-audit", "--json", ...(kubectl.run ? [] : ["--skip-kubernetes"])], env);
    expect(result.stderr).toBe("");
    const report = JSON.parse(result.stdout) as Report;
    expect(report.findings.filter((finding) => finding.severity === "high")).toEqual([]);
    expect(result.code).toBe(0);
    expect(report.notChecked.map((item) => item.check)).toContain("npm_audit");
    // Probed live: the headers are there and HSTS is sent for a TLS request from a trusted proxy.
    expect(report.notChecked.map((item) => item.check)).not.toContain("security_headers");
    expect(report.notChecked.map((item) => item.check)).not.toContain("hsts");
    expect(report.findings.map((finding) => finding.check)).not.toContain("security_headers");
    const text = await azora(["security", "audit", "--url", platform.baseUrl, "--skip-npm-audit", "--skip-kubernetes"], env);
    expect(text.stdout).toMatch(/# Security audit of .*: 0 high/);
    expect(text.stdout).toContain("NOT CHECKED npm_audit");
  });

  it("finds every planted weakness, with evidence and a fix, and exits 1", async () => {
    await platform.running.stop();
    const config = testConfig({ DATA_DIR: dataDir, ...provisioned.env });
    const context = await openPlatform(config, { migrate: false });
    try {
      await context.db.query("UPDATE signing_keys SET created_at = now() - interval '400 days'");
      for (let index = 0; index < 6; index++) {
        await context.db.query("INSERT INTO users (email, password_hash, role, created_at) VALUES ($1, 'x', 'admin', now() - interval '200 days')", [`admin${index}@audit.example`]);
      }
    } finally {
      await closePlatform(context);
    }
    const secrets = join(dataDir, "secrets");
    await chmod(join(secrets, "master.key"), 0o644);
    await writeFile(join(secrets, "ops-token"), "short\n", { mode: 0o600 });
    const old = new Date(Date.now() - 500 * 86_400_000);
    await utimes(join(secrets, "master.key"), old, old);
    const manifests = join(await makeDataDir(), "kubernetes");
    await cp(kubernetesDir, manifests, { recursive: true });
    const gateway = join(manifests, "base", "api-gateway.yaml");
    await writeFile(gateway, (await readFile(gateway, "utf8")).replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"));
    const bare = await bareServer();
    try {
      const planted = {
        ...env,
        AZORA_OPS_TOKEN: "changeme-changeme-changeme-changeme-changeme",
        OPS_HOST: "0.0.0.0",
        TRUSTED_PROXIES: "0.0.0.0/0,loopback",
        AZORA_ENV: "production",
      };
      const result = await azora(["security", "audit", "--url", bare.url, "--skip-npm-audit", "--kubernetes-dir", manifests, "--json", ...(kubectl.run ? [] : ["--skip-kubernetes"])], planted);
      expect(result.code, result.stderr).toBe(1);
      const report = JSON.parse(result.stdout) as Report;
      const found = (check: string, match: RegExp) => report.findings.find((finding) => finding.check === check && match.test(`${finding.title} ${finding.evidence}`));
      expect(found("weak_secret", /AZORA_OPS_TOKEN.*placeholder/)).toMatchObject({ severity: "high" });
      expect(found("weak_secret", /ops-token.*5 characters/)).toMatchObject({ severity: "high" });
      expect(found("secrets_file_modes", /master\.key.*0644/)).toMatchObject({ severity: "high" });
      expect(found("secret_age", /master\.key/)).toMatchObject({ severity: "low" });
      expect(found("ops_port_exposed", /OPS_HOST=0\.0\.0\.0/)).toMatchObject({ severity: "high" });
      expect(found("trusted_proxies_too_wide", /0\.0\.0\.0\/0/)).toMatchObject({ severity: "high" });
      expect(found("security_headers", /x-content-type-options.*absent/)).toMatchObject({ severity: "medium" });
      expect(found("security_headers", /X-Powered-By: Express/)).toBeDefined();
      expect(found("hsts", /absent/)).toMatchObject({ severity: "high" });
      expect(found("signing_key_age", /days old/)).toMatchObject({ severity: "medium" });
      expect(found("admin_count", /6 admins/)).toMatchObject({ severity: "medium" });
      expect(report.findings.filter((finding) => finding.check === "idle_admin")).toHaveLength(6);
      if (kubectl.run) expect(found("kubernetes_security_context", /api-gateway.*allowPrivilegeEscalation/)).toMatchObject({ severity: "high" });
      for (const finding of report.findings) expect(finding.fix.length).toBeGreaterThan(10);
      // No secret value is printed, whatever the finding.
      expect(result.stdout).not.toContain("changeme-changeme");
    } finally {
      bare.server.close();
      await rm(join(manifests, ".."), { recursive: true, force: true });
    }
  });
});
