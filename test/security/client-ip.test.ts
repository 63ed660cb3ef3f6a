import { afterEach, describe, expect, it } from "vitest";
import { platformCommands } from "../../src/ops/commands.ts";
import { startPlatform, type RunningPlatform } from "../../src/runtime.ts";
import { backends } from "../helpers/backends.ts";
import { makeDataDir, startTestPlatform, testConfig, type TestPlatform } from "../helpers/platform.ts";
import { logEvents, rawLogin } from "../helpers/security.ts";

const attempt = { email: "ip-check@example.com", password: "wrong-password-4" };
/** The IP the auth service logged for the last failed login. */
const loggedIp = async (platform: { config: TestPlatform["config"] }) => {
  const lines = await logEvents(platform as TestPlatform, "auth.log", "LOGIN_FAILED");
  return lines.at(-1)?.ip;
};

describe.each(backends())("client IP ($name)", (backend) => {
  let platform: TestPlatform | undefined;
  afterEach(async () => {
    await platform?.stop();
    platform = undefined;
  });

  it("without TRUSTED_PROXIES, X-Forwarded-For is ignored at the gateway and at the services reached directly", async () => {
    platform = await startTestPlatform(backend);
    await rawLogin(platform.baseUrl, attempt, { forwardedFor: "6.6.6.6" });
    expect(await loggedIp(platform)).toBe("127.0.0.1");
    // A local process that calls the auth service's loopback port itself chooses no IP either.
    await rawLogin(platform.running.urls.auth!, attempt, { forwardedFor: "6.6.6.7" });
    expect(await loggedIp(platform)).toBe("127.0.0.1");
  });

  it("with TRUSTED_PROXIES, the gateway takes the client from X-Forwarded-For and the services believe only the gateway", async () => {
    platform = await startTestPlatform(backend, { TRUSTED_PROXIES: "127.0.0.1" });
    await rawLogin(platform.baseUrl, attempt, { forwardedFor: "198.51.100.23" });
    expect(await loggedIp(platform)).toBe("198.51.100.23");
    // A spoofed chain: only the hop next to the trusted proxy counts.
    await rawLogin(platform.baseUrl, attempt, { forwardedFor: "1.2.3.4, 198.51.100.24" });
    expect(await loggedIp(platform)).toBe("198.51.100.24");
    // The in-process gateway's secret is not known to a local caller: its header is not believed.
    await rawLogin(platform.running.urls.auth!, attempt, { forwardedFor: "6.6.6.8" });
    expect(await loggedIp(platform)).toBe("127.0.0.1");
  });
});

describe("client IP in split mode (azora serve auth)", () => {
  let running: RunningPlatform | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  for (const [trusted, expected] of [["", "127.0.0.1"], ["127.0.0.1", "203.0.113.77"]] as const) {
    it(`believes X-Forwarded-For from loopback only when TRUSTED_PROXIES says so (TRUSTED_PROXIES="${trusted}")`, async () => {
      const config = testConfig({ DATA_DIR: await makeDataDir(), TRUSTED_PROXIES: trusted });
      running = await startPlatform(config, { roles: ["auth"], commands: platformCommands });
      await rawLogin(running.urls.auth!, attempt, { forwardedFor: "203.0.113.77" });
      expect(await loggedIp({ config })).toBe(expected);
    });
  }
});
