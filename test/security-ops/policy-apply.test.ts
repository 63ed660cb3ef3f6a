import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { defaultPolicyPath } from "../../src/services/security/policy.ts";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { startChildPlatform, type ChildPlatform } from "../helpers/child-platform.ts";
import { runCli, spawnCli, type RunningCli } from "../helpers/cli.ts";
import { makeDataDir } from "../helpers/platform.ts";
import { waitUntil } from "../helpers/wait.ts";

/** A request the auth service answers at once (400): its RateLimit-Limit header is the limit the gateway applies now. */
const authLimit = async (baseUrl: string) => (await apiClient(baseUrl).call("POST", "/api/auth/register", { json: {} })).headers.get("ratelimit-limit");

async function policyFile(dir: string, name: string, change: (policy: { rateLimits: { auth: number } }) => void): Promise<string> {
  const policy = parse(await readFile(defaultPolicyPath, "utf8")) as { rateLimits: { auth: number } };
  change(policy);
  const file = join(dir, name);
  await writeFile(file, stringify(policy));
  return file;
}

describe.each(backends())("a policy update reaches a running azora up without a restart ($name)", (backend) => {
  let platform: ChildPlatform;
  let dispose: () => Promise<void>;
  let env: Record<string, string>;
  beforeAll(async () => {
    const provisioned = await backend.provision();
    dispose = provisioned.dispose;
    platform = await startChildPlatform({ via: "azora", env: provisioned.env });
    env = { DATA_DIR: platform.dataDir, ...provisioned.env };
  }, 600_000);
  afterAll(async () => {
    await platform?.dispose();
    await dispose?.();
  });

  it("starts with the shipped policy's auth limit (one source: deployment/security/policy.yaml)", async () => {
    const shipped = parse(await readFile(defaultPolicyPath, "utf8")) as { rateLimits: { auth: number } };
    expect(await authLimit(platform.baseUrl)).toBe(String(shipped.rateLimits.auth));
  });

  it("applies password.minLength to registration without a restart", async () => {
    const file = await policyFile(platform.dataDir, "long-passwords.yaml", (policy) => ((policy as unknown as { password: { minLength: number } }).password.minLength = 14));
    expect((await runCli(["security", "policies", "update", file], env)).code).toBe(0);
    const register = (password: string) => apiClient(platform.baseUrl).call("POST", "/api/auth/register", { json: { email: `long-${password.length}-${Date.now()}@example.com`, password } });
    await waitUntil(async () => ((await register("quiet-otter-9")).status === 400 ? true : undefined), "registration to refuse a 13-character password");
    const refused = await register("quiet-otter-9");
    expect(JSON.stringify(refused.body)).toContain("at least 14");
    expect((await register("quiet-otter-92")).status).toBe(202);
  });

  it("applies a lower login limit, then enforces it; an invalid file changes nothing", async () => {
    const file = await policyFile(platform.dataDir, "strict.yaml", (policy) => (policy.rateLimits.auth = 6));
    const update = await runCli(["security", "policies", "update", file], env);
    expect(update.code, update.stderr).toBe(0);
    await waitUntil(async () => ((await authLimit(platform.baseUrl)) === "6" ? true : undefined), "the gateway to apply the new auth limit");
    const statuses: number[] = [];
    for (let index = 0; index < 8; index++) statuses.push((await apiClient(platform.baseUrl).call("POST", "/api/auth/register", { json: {} })).status);
    expect(statuses).toContain(429);

    const bad = await policyFile(platform.dataDir, "bad.yaml", (policy) => (policy.rateLimits.auth = -1));
    const refused = await runCli(["security", "policies", "update", bad], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("rateLimits.auth");
    const shown = JSON.parse((await runCli(["security", "policies", "show", "--json"], env)).stdout) as { policy: { rateLimits: { auth: number } } };
    expect(shown.policy.rateLimits.auth).toBe(6);
  });
});

const postgres = backends().find((backend) => backend.name === "postgres+redis");

describe.runIf(postgres)("a policy update reaches two split-mode gateways on Redis", () => {
  const processes: RunningCli[] = [];
  let dispose: () => Promise<void> = async () => undefined;
  let dataDir = "";
  let env: Record<string, string> = {};
  const gateways: string[] = [];
  beforeAll(async () => {
    const provisioned = await postgres!.provision();
    dispose = provisioned.dispose;
    dataDir = await makeDataDir();
    env = {
      ...provisioned.env,
      DATA_DIR: dataDir,
      HOST: "127.0.0.1",
      PORT: "0",
      OPS_PORT: "0",
      AZORA_MASTER_KEY: "policy-apply-test-master-key-0123456789abcdef",
      AZORA_OPS_TOKEN: "policy-apply-test-ops-token-0123456789abcdef",
    };
    expect((await runCli(["migrate"], env)).code).toBe(0);
    const auth = spawnCli(["serve", "auth"], env);
    processes.push(auth);
    const [, authUrl = ""] = await auth.waitFor(/Auth:\s+(http:\/\/\S+)/, 120_000);
    for (const name of ["one", "two"]) {
      const gateway = spawnCli(["serve", "gateway"], { ...env, AUTH_URL: authUrl, USERS_URL: authUrl, LOG_DIR: join(dataDir, `logs-${name}`) });
      processes.push(gateway);
      const [, url = ""] = await gateway.waitFor(/API:\s+(http:\/\/\S+)/, 120_000);
      gateways.push(url);
    }
  }, 300_000);
  afterAll(async () => {
    for (const run of processes) if (run.child.exitCode === null) run.child.kill("SIGKILL");
    await dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("both apply the new limit and share its budget", async () => {
    const file = await policyFile(dataDir, "strict.yaml", (policy) => (policy.rateLimits.auth = 5));
    expect((await runCli(["security", "policies", "update", file], env)).code).toBe(0);
    for (const url of gateways) await waitUntil(async () => ((await authLimit(url)) === "5" ? true : undefined), `gateway ${url} to apply the new auth limit`);
    const statuses: number[] = [];
    for (let index = 0; index < 6; index++) statuses.push((await apiClient(gateways[index % 2]!).call("POST", "/api/auth/register", { json: {} })).status);
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(0);
  });
});
