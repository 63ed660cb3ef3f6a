import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { eventually } from "../helpers/free-port.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import { resetTokenIn } from "../helpers/smtp.ts";
import { logEvents, manualClock, rawLogin, startClockedPlatform, withoutRequestId } from "../helpers/security.ts";

/** The token of the reset mail written to DATA_DIR/mail for `email` (the platform has no SMTP server here). */
async function resetTokenInMailDir(platform: TestPlatform, email: string): Promise<string | undefined> {
  const dir = platform.config.paths.mail;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const mail = await simpleParser(await readFile(join(dir, name)));
    const to = mail.to && !Array.isArray(mail.to) ? mail.to.value[0]?.address : undefined;
    if (to === email && mail.text?.includes("reset-password#token=")) return resetTokenIn(mail.text);
  }
  return undefined;
}

const strongPassword = () => `guard-${randomBytes(8).toString("hex")}`;
const freshEmail = (prefix: string) => `${prefix}-${randomBytes(4).toString("hex")}@example.com`;

describe.each(backends())("password guard ($name)", (backend) => {
  describe("behind a trusted proxy (the test is the proxy and names the client IP)", () => {
    const clock = manualClock();
    let platform: TestPlatform;
    beforeAll(async () => {
      platform = await startClockedPlatform(backend, clock, { TRUSTED_PROXIES: "127.0.0.1", LOGIN_FREE_FAILURES: "5" });
    });
    afterAll(async () => platform?.stop());

    const register = async () => {
      const api = apiClient(platform.baseUrl);
      const email = freshEmail("guard");
      const password = strongPassword();
      expect((await api.call("POST", "/api/auth/register", { json: { email, password } })).status).toBe(202);
      return { email, password };
    };
    const login = (email: string, password: string, ip: string) => rawLogin(platform.baseUrl, { email, password }, { forwardedFor: ip });

    it("refuses the right password during back-off exactly as a wrong one, and accepts it after", async () => {
      const { email, password } = await register();
      const wrongAnswers = [];
      for (let i = 0; i < 5; i++) wrongAnswers.push(await login(email, "not-the-password", "203.0.113.10"));
      for (const answer of wrongAnswers) expect(answer.status).toBe(401);
      const duringBackoff = await login(email, password, "203.0.113.10");
      expect(withoutRequestId(duringBackoff)).toEqual(withoutRequestId(wrongAnswers[0]!));
      expect(duringBackoff.headers.get("retry-after")).toBeNull();
      const locked = await logEvents(platform, "auth.log", "ACCOUNT_LOCKED");
      expect(locked.length).toBeGreaterThan(0);
      expect(JSON.stringify(locked)).not.toContain(email);

      // The 5th failure took a 1 s back-off window; the 6th (one guess in the next window) a 2 s one.
      clock.advance(1_000);
      expect((await login(email, "still-not-it", "203.0.113.10")).status).toBe(401);
      clock.advance(500);
      expect(withoutRequestId(await login(email, password, "203.0.113.10"))).toEqual(withoutRequestId(wrongAnswers[0]!));
      clock.advance(500);
      const after = await login(email, password, "203.0.113.10");
      expect(after.status).toBe(200);
      expect(after.headers.get("cache-control")).toBe("no-store");
    });

    it("does not lock out a victim who logged in before from their own IP while strangers guess", async () => {
      const { email, password } = await register();
      expect((await login(email, password, "198.51.100.7")).status).toBe(200);
      for (let i = 0; i < 30; i++) {
        const answer = await login(email, `guess-${i}-wrong`, `203.0.113.${20 + (i % 10)}`);
        expect(answer.status).toBe(401);
      }
      // A stranger with the right password is held by the account's back-off …
      expect((await login(email, password, "192.0.2.55")).status).toBe(401);
      // … the victim on their known IP is not.
      expect((await login(email, password, "198.51.100.7")).status).toBe(200);
    });

    it("a password reset ends the back-off: the owner signs in at once with the new password", async () => {
      const { email, password } = await register();
      const api = apiClient(platform.baseUrl);
      // The owner's own IP (never signed in from before) fails until the (account, IP) pair is blocked: 5 free
      // failures, then one per back-off window (a guess during back-off is refused unchecked and does not count).
      for (let i = 0; i < 5; i++) expect((await login(email, `owner-typo-${i}`, "198.51.100.30")).status).toBe(401);
      for (let i = 0; i < 5; i++) {
        clock.advance(2 ** i * 1_000);
        expect((await login(email, `owner-late-typo-${i}`, "198.51.100.30")).status).toBe(401);
      }
      // Blocked now (the pair's 10 failures in its 15-minute window, and a 32 s back-off).
      expect((await login(email, password, "198.51.100.30")).status).toBe(401);

      const asOwner = { "x-forwarded-for": "198.51.100.30" };
      expect((await api.call("POST", "/api/auth/password/forgot", { json: { email }, headers: asOwner })).status).toBe(202);
      const token = await eventually(() => resetTokenInMailDir(platform, email), "the reset mail in DATA_DIR/mail");
      const newPassword = strongPassword();
      expect((await api.call("POST", "/api/auth/password/reset", { json: { token, password: newPassword }, headers: asOwner })).status).toBe(204);
      // Same clock instant: without the reset clearing them, the pair block and the back-off would still hold.
      expect((await login(email, newPassword, "198.51.100.30")).status).toBe(200);
      // The back-off starts over: strangers' guesses after the reset count from zero again.
      expect((await login(email, "wrong-after-reset", "203.0.113.50")).status).toBe(401);
      expect((await login(email, newPassword, "192.0.2.60")).status).toBe(200);
    });

    it("counts wrong passwords given to self-service erasure in the same budget as logins", async () => {
      const { email, password } = await register();
      const api = apiClient(platform.baseUrl);
      const tokens = (await login(email, password, "198.51.100.80")).body as { accessToken: string };
      for (let i = 0; i < 5; i++) {
        const answer = await api.call("DELETE", "/api/user/me", { token: tokens.accessToken, json: { password: `wrong-${i}-password` }, headers: { "x-forwarded-for": "203.0.113.90" } });
        expect(answer.status).toBe(403);
      }
      expect((await login(email, password, "192.0.2.91")).status).toBe(401);
      expect((await login(email, password, "198.51.100.80")).status).toBe(200);
    });

    it("counts wrong current passwords given to a password change in the same budget as logins", async () => {
      const { email, password } = await register();
      const api = apiClient(platform.baseUrl);
      const tokens = (await login(email, password, "198.51.100.81")).body as { accessToken: string };
      for (let i = 0; i < 5; i++) {
        const answer = await api.call("POST", "/api/auth/password/change", {
          token: tokens.accessToken,
          json: { currentPassword: `wrong-${i}-password`, password: strongPassword() },
          headers: { "x-forwarded-for": "203.0.113.91" },
        });
        expect(answer.status).toBe(403);
      }
      // A stolen access token bought no free guesses: the account is in back-off for strangers, not for its owner's IP.
      expect((await login(email, password, "192.0.2.92")).status).toBe(401);
      expect((await login(email, password, "198.51.100.81")).status).toBe(200);
    });

    it("throttles unknown emails like known ones (no enumeration through the back-off)", async () => {
      const email = freshEmail("nobody");
      for (let i = 0; i < 6; i++) expect((await login(email, "whatever-password", "203.0.113.60")).status).toBe(401);
      const locked = await logEvents(platform, "auth.log", "ACCOUNT_LOCKED");
      expect(locked.length).toBeGreaterThan(1);
    });
  });

  describe("without a trusted proxy", () => {
    const clock = manualClock();
    let platform: TestPlatform;
    beforeAll(async () => {
      platform = await startClockedPlatform(backend, clock, { LOGIN_IP_DAILY_FAILURES: "20", LOGIN_GLOBAL_FAILURES_PER_MINUTE: "15" });
    });
    afterAll(async () => platform?.stop());

    it("counts 50 requests rotating X-Forwarded-For as one client: the daily cap answers 429 rate_limited", async () => {
      const statuses: number[] = [];
      let last;
      for (let i = 0; i < 50; i++) {
        last = await rawLogin(platform.baseUrl, { email: freshEmail("spray"), password: "wrong-password-1" }, { forwardedFor: `10.${i}.${i}.${i}` });
        statuses.push(last.status);
      }
      expect(statuses.slice(0, 20).every((status) => status === 401)).toBe(true);
      expect(statuses.slice(20).every((status) => status === 429)).toBe(true);
      expect((last!.body as { error: { code: string } }).error.code).toBe("rate_limited");
      expect(Number(last!.headers.get("retry-after"))).toBeGreaterThan(0);
      // 20 failures on 20 different accounts within a minute: password spraying is reported once.
      expect(await logEvents(platform, "auth.log", "SUSPICIOUS_ACTIVITY")).toHaveLength(1);
      // The next day (by the platform's clock) the IP has a budget again.
      clock.advance(24 * 3600 * 1000);
      expect((await rawLogin(platform.baseUrl, { email: freshEmail("spray"), password: "wrong-password-1" })).status).toBe(401);
    });
  });

  describe("path variants", () => {
    const clock = manualClock();
    let platform: TestPlatform;
    beforeAll(async () => {
      platform = await startClockedPlatform(backend, clock, { LOGIN_IP_DAILY_FAILURES: "3" });
    });
    afterAll(async () => platform?.stop());

    it("share the one budget: //path, trailing and doubled slashes, percent-encoding", async () => {
      const variants = ["/api/auth/login", "/api/auth/login/", "//api/auth/login", "/api/auth//login", "/api/auth/%6Cogin", "/api/%61uth/login", "/API/auth/login"];
      const first: Record<string, number> = {};
      for (const path of variants) {
        first[path] = (await rawLogin(platform.baseUrl, { email: freshEmail("path"), password: "wrong-password-2" }, { path })).status;
      }
      // Each variant either reaches the login (and draws on the budget) or is no route at all.
      for (const [path, status] of Object.entries(first)) expect([401, 404, 429], path).toContain(status);
      const reached = Object.values(first).filter((status) => status !== 404).length;
      expect(reached).toBeGreaterThanOrEqual(4);
      // The budget of 3 is spent across variants: every variant that reaches login now answers 429.
      for (const path of variants) {
        const status = (await rawLogin(platform.baseUrl, { email: freshEmail("path"), password: "wrong-password-2" }, { path })).status;
        expect([404, 429], path).toContain(status);
        if (first[path] !== 404) expect(status, path).toBe(429);
      }
    });
  });

  if (backend.name === "postgres+redis") {
    describe("two platforms on one Redis", () => {
      const clock = manualClock();
      let a: TestPlatform;
      let b: TestPlatform;
      let shared: { env: Record<string, string>; dispose(): Promise<void> };
      beforeAll(async () => {
        shared = await backend.provision();
        // One installation: the same database, Redis and master key (it decrypts the shared signing key).
        const env = { LOGIN_IP_DAILY_FAILURES: "6", AZORA_MASTER_KEY: randomBytes(32).toString("hex") };
        a = await startClockedPlatform(backend, clock, env, shared);
        b = await startClockedPlatform(backend, clock, env, shared);
      });
      afterAll(async () => {
        await a?.stop();
        await b?.stop();
        await shared?.dispose();
      });

      it("draw on the same budget", async () => {
        for (let i = 0; i < 3; i++) expect((await rawLogin(a.baseUrl, { email: freshEmail("two"), password: "wrong-password-3" })).status).toBe(401);
        for (let i = 0; i < 3; i++) expect((await rawLogin(b.baseUrl, { email: freshEmail("two"), password: "wrong-password-3" })).status).toBe(401);
        expect((await rawLogin(a.baseUrl, { email: freshEmail("two"), password: "wrong-password-3" })).status).toBe(429);
        expect((await rawLogin(b.baseUrl, { email: freshEmail("two"), password: "wrong-password-3" })).status).toBe(429);
      });
    });
  }
});
