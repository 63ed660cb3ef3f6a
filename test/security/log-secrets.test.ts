import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { eventually } from "../helpers/free-port.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import { manualClock, startClockedPlatform } from "../helpers/security-platform.ts";
import { resetTokenIn, startSmtpServer } from "../helpers/smtp.ts";

const SLOW = 300_000;

/**
 * Issue 6, "done means": no log file holds a password, a token or an unmasked email. Every auth flow runs once
 * (the failing ones included: wrong passwords, back-off, reuse, a refused mail), each secret it used is
 * collected, and then every file in the log directory is searched for each of them.
 */
describe.each(backends())("no secret in any log file after every auth flow on the $name backend", (backend) => {
  const clock = manualClock();
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let platform: TestPlatform;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    platform = await startClockedPlatform(backend, clock, { SMTP_URL: smtp.url, LOGIN_FREE_FAILURES: "2" });
  }, SLOW);
  afterAll(async () => {
    await platform?.stop();
    await smtp?.close();
  }, SLOW);

  it("passwords, access, refresh and reset tokens and emails are absent from every log file", async () => {
    const api = apiClient(platform.baseUrl);
    const secrets: string[] = [];
    const emails: string[] = [];
    const jane = await api.newUser("leak-jane");
    secrets.push(jane.password, jane.accessToken, jane.refreshToken);
    emails.push(jane.email);

    // Wrong passwords into back-off, an unknown email, a refused body.
    for (const wrong of ["wrong-password-one", "wrong-password-two", "wrong-password-three"]) {
      secrets.push(wrong);
      await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: wrong } });
    }
    const unknownEmail = `nobody-leak-${Date.now()}@example.com`;
    emails.push(unknownEmail);
    await api.call("POST", "/api/auth/login", { json: { email: unknownEmail, password: "unknown-user-password" } });
    secrets.push("unknown-user-password");
    await api.call("POST", "/api/auth/register", { json: { email: "not an email", password: "body-password-refused" } });
    secrets.push("body-password-refused");

    // Refresh rotation, reuse after the grace interval, logout.
    const rotated = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: jane.refreshToken } });
    secrets.push(rotated.body.refreshToken, rotated.body.accessToken);
    clock.advance(60_000);
    await api.call("POST", "/api/auth/refresh", { json: { refreshToken: jane.refreshToken } });
    const bob = await api.newUser("leak-bob");
    secrets.push(bob.password, bob.accessToken, bob.refreshToken);
    emails.push(bob.email);
    await api.call("POST", "/api/auth/logout", { json: { refreshToken: bob.refreshToken } });
    await api.get("/api/user/me", bob.accessToken);
    await api.get("/api/user/me", `${bob.accessToken}x`);

    // A refused reset mail (the server's reply names the address), then a delivered one, used once and again.
    smtp.refuse(true);
    await api.call("POST", "/api/auth/password/forgot", { json: { email: bob.email } });
    // Until the failure is recorded (the retry time is set from the clock then), the clock must not move.
    const failureRecorded = async () => {
      const rows = await platform.running.context.db.query<{ last_error: string | null }>("SELECT last_error FROM mail_outbox WHERE user_id = $1", [bob.id]);
      return rows[0]?.last_error ? true : undefined;
    };
    await eventually(failureRecorded, "the refused mail recorded");
    expect(smtp.refusedCount()).toBeGreaterThan(0);
    smtp.refuse(false);
    clock.advance(31_000);
    const resetToken = resetTokenIn((await smtp.nthMailTo(bob.email, 1)).text);
    secrets.push(resetToken);
    await api.call("POST", "/api/auth/password/reset", { json: { token: resetToken, password: "bobs new passphrase" } });
    await api.call("POST", "/api/auth/password/reset", { json: { token: resetToken, password: "bobs other passphrase" } });
    secrets.push("bobs new passphrase", "bobs other passphrase");

    // A change with a wrong and then the right current password; an erasure attempt with a wrong password.
    const ann = await api.newUser("leak-ann");
    secrets.push(ann.password, ann.accessToken, ann.refreshToken);
    emails.push(ann.email);
    await api.call("POST", "/api/auth/password/change", { token: ann.accessToken, json: { currentPassword: "not anns password", password: "anns new passphrase" } });
    await api.call("DELETE", "/api/user/me", { token: ann.accessToken, json: { password: "wrong erasure password" } });
    await api.call("POST", "/api/auth/password/change", { token: ann.accessToken, json: { currentPassword: ann.password, password: "anns new passphrase" } });
    secrets.push("not anns password", "anns new passphrase", "wrong erasure password");
    await smtp.nthMailTo(ann.email, 1);

    platform.running.context.logs.flush();
    const dir = platform.config.paths.logs;
    const names = await readdir(dir);
    expect(names.length).toBeGreaterThan(0);
    const text = (await Promise.all(names.map((name) => readFile(join(dir, name), "utf8")))).join("\n");
    // The flows did log (so the search below searched something): failures, reuse, reset, change, a mail failure.
    for (const event of ["LOGIN_FAILED", "ACCOUNT_LOCKED", "TOKEN_REUSED", "PASSWORD_RESET", "PASSWORD_CHANGED", "mail_failed"]) expect(text, event).toContain(`"event":"${event}"`);
    for (const secret of secrets) expect(text.includes(secret), `a secret of length ${secret.length} is in the logs`).toBe(false);
    // A token's signature part alone is no better: the access tokens' last segments are searched too.
    for (const token of [jane.accessToken, bob.accessToken, ann.accessToken]) expect(text.includes(token.split(".")[2]!)).toBe(false);
    for (const email of emails) {
      expect(text.toLowerCase().includes(email.toLowerCase()), `an email is in the logs in clear`).toBe(false);
      expect(text.toLowerCase().includes(encodeURIComponent(email).toLowerCase())).toBe(false);
    }
  }, SLOW);
});
