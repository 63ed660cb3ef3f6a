import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { repoRoot, runCli } from "../helpers/cli.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";
import { logEvents } from "../helpers/security.ts";

const SLOW = 300_000;
const rotateSecrets = join(repoRoot, "scripts", "rotate-secrets.sh");
const kidOf = (token: string) => String(decodeProtectedHeader(token).kid);

/**
 * The guide's `./scripts/rotate-secrets.sh` while a client keeps working: the CLI is a real process, the loop
 * talks HTTP to the gateway; short JWKS cache and skew make the rotation's stages seconds apart.
 */
describe.each(backends())("./scripts/rotate-secrets.sh on the $name backend", (backend) => {
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  let env: Record<string, string>;

  beforeAll(async () => {
    const timing = { JWKS_CACHE_SECONDS: "2", TOKEN_CLOCK_SKEW_SECONDS: "1" };
    platform = await startTestPlatform(backend, timing);
    api = apiClient(platform.baseUrl);
    // On PostgreSQL the command runs in the CLI's process: it must see the services' JWKS cache age and skew.
    env = { ...timing, DATA_DIR: platform.dataDir, ...(platform.config.database.url ? { DATABASE_URL: platform.config.database.url } : {}) };
  }, SLOW);
  afterAll(async () => platform?.stop(), SLOW);

  it("--dry-run changes nothing", async () => {
    const kidBefore = kidOf((await api.newUser("rotate-dry")).accessToken);
    const jwksBefore = (await api.get("/.well-known/jwks.json")).body;
    const dry = await runCli(["--dry-run", "--json"], env, rotateSecrets);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true });
    expect((await api.get("/.well-known/jwks.json")).body).toEqual(jwksBefore);
    expect(kidOf((await api.newUser("rotate-dry2")).accessToken)).toBe(kidBefore);
  }, SLOW);

  it("a loop of authenticated requests runs through the rotation with zero failures", async () => {
    const jane = await api.newUser("rotate-loop");
    const oldKid = kidOf(jane.accessToken);
    const opsTokenBefore = await readFile(join(platform.dataDir, "secrets", "ops-token"), "utf8");
    let refreshToken = jane.refreshToken;
    const heldTokens = [jane.accessToken];
    const failures: string[] = [];
    const kidsServed = new Set<string>();
    let requests = 0;
    let stop = false;

    const loop = (async () => {
      while (!stop) {
        const next = await api.call("POST", "/api/auth/refresh", { json: { refreshToken } });
        requests++;
        if (next.status !== 200) failures.push(`refresh ${next.status}`);
        else {
          refreshToken = next.body.refreshToken;
          heldTokens.push(next.body.accessToken);
        }
        // The newest token and the oldest one still held (signed by the old key) must both keep working.
        for (const token of [heldTokens[heldTokens.length - 1] ?? "", heldTokens[0] ?? ""]) {
          const me = await api.get("/api/user/me", token);
          requests++;
          if (me.status !== 200) failures.push(`GET /api/user/me ${me.status} with kid ${kidOf(token)}`);
          else kidsServed.add(kidOf(token));
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const rotated = await runCli(["--json"], env, rotateSecrets);
    expect(rotated.code, rotated.stderr).toBe(0);
    const result = JSON.parse(rotated.stdout) as { signingKey: { kid: string }; retiring: { kid: string }[] };
    const newKid = result.signingKey.kid;
    expect(result.retiring.map((key) => key.kid)).toContain(oldKid);
    // Keep going until tokens of the new key have worked at the gateway (and a little after).
    const deadline = Date.now() + 60_000;
    while (!kidsServed.has(newKid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stop = true;
    await loop;

    expect(failures).toEqual([]);
    expect(kidsServed).toContain(newKid);
    expect(kidsServed).toContain(oldKid);
    expect(requests).toBeGreaterThan(20);
    const published = ((await api.get("/.well-known/jwks.json")).body as { keys: { kid: string }[] }).keys.map((key) => key.kid);
    expect(published).toEqual(expect.arrayContaining([newKid, oldKid])); // the old key stays until the longest token expired

    // The ops token changed, and the running process accepts the new one (the CLI relays with it).
    expect(await readFile(join(platform.dataDir, "secrets", "ops-token"), "utf8")).not.toBe(opsTokenBefore);
    const tail = await runCli(["audit", "tail", "-n", "1", "--json"], env);
    expect(tail.code, tail.stderr).toBe(0);
    expect((JSON.parse(tail.stdout) as { action: string }[])[0]?.action).toBe("secrets.rotate");
    platform.running.context.logs.flush();
    const rotations = await logEvents(platform, "security.log", "SECRET_ROTATED");
    expect(rotations.map((line) => line.rotated)).toEqual(expect.arrayContaining(["signing-key", "ops-token"]));
    expect(JSON.stringify(rotations)).not.toContain(opsTokenBefore.trim());
  }, SLOW);
});
