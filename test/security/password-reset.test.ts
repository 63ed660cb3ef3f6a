import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, expectErrorShape } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { eventually } from "../helpers/free-port.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import { logFilesText } from "../helpers/security.ts";
import { manualClock, startClockedPlatform } from "../helpers/security-platform.ts";
import { resetTokenIn, startSmtpServer } from "../helpers/smtp.ts";

const SLOW = 300_000;
const PUBLIC_BASE_URL = "https://accounts.azora.test";
// A revocation reaches every process within 5 s; the bound only keeps a broken build from hanging.
const REVOCATION_BOUND_MS = 15_000;

type Api = ReturnType<typeof apiClient>;

/** True once the access token is refused at the gateway (auth and users routes) and the refresh token is dead. */
async function sessionIsDead(api: Api, session: { accessToken: string; refreshToken: string }): Promise<true | undefined> {
  const answers = await Promise.all([api.get("/api/auth/me", session.accessToken), api.get("/api/user/me", session.accessToken)]);
  if (!answers.every((answer) => answer.status === 401)) return undefined;
  const refresh = await api.call("POST", "/api/auth/refresh", { json: { refreshToken: session.refreshToken } });
  expectErrorShape(refresh, 401, "invalid_token");
  return true;
}

describe.each(backends())("password reset and change through SMTP on the $name backend", (backend) => {
  const clock = manualClock();
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let platform: TestPlatform;
  let api: Api;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    platform = await startClockedPlatform(backend, clock, { SMTP_URL: smtp.url, PUBLIC_BASE_URL, MAIL_FROM: "Azora OS <accounts@azora.test>" });
    api = apiClient(platform.baseUrl);
  }, SLOW);
  afterAll(async () => {
    await platform?.stop();
    await smtp?.close();
  }, SLOW);

  it("a reset mail arrives, its link works once, and every earlier session is dead afterwards", async () => {
    const jane = await api.newUser("reset");
    const second = (await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).body;

    const forgot = await api.call("POST", "/api/auth/password/forgot", { json: { email: jane.email.toUpperCase() } });
    expect(forgot.status).toBe(202);
    expect(forgot.body).toEqual({ status: "accepted" });
    const mail = await smtp.nthMailTo(jane.email, 1);
    expect(mail.text).toContain(`${PUBLIC_BASE_URL}/reset-password#token=`);
    const token = resetTokenIn(mail.text);

    // Only the SHA-256 of the token is stored.
    const rows = await platform.running.context.db.query<{ token_hash: string }>("SELECT token_hash FROM password_reset_tokens");
    expect(rows.map((row) => row.token_hash)).toContain(createHash("sha256").update(token).digest("hex"));
    expect(JSON.stringify(rows)).not.toContain(token);

    const newPassword = "a brand new passphrase";
    const reset = await api.call("POST", "/api/auth/password/reset", { json: { token, password: newPassword } });
    expect(reset.status).toBe(204);
    expectErrorShape(await api.call("POST", "/api/auth/password/reset", { json: { token, password: "another new passphrase" } }), 400, "invalid_reset_token");

    // Both earlier sessions end (the revocation reaches every process within seconds: the clock moves past the caches).
    clock.advance(6_000);
    await eventually(() => sessionIsDead(api, jane), "the first session to end", REVOCATION_BOUND_MS);
    await eventually(() => sessionIsDead(api, second), "the second session to end", REVOCATION_BOUND_MS);
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(401);
    const fresh = await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: newPassword } });
    expect(fresh.status).toBe(200);
    expect((await api.get("/api/user/me", fresh.body.accessToken)).status).toBe(200);

    // The owner is told; the reset is in auth.log; no log holds the token.
    const notice = await smtp.nthMailTo(jane.email, 2);
    expect(notice.subject).toMatch(/password was changed/i);
    const resetLogged = async () => (await logFilesText(platform)).split("\n").some((line) => line.includes('"event":"PASSWORD_RESET"') && line.includes(jane.id)) || undefined;
    await eventually(resetLogged, "PASSWORD_RESET in auth.log");
    expect(await logFilesText(platform)).not.toContain(token);
  }, SLOW);

  it("a newer reset mail voids the earlier link", async () => {
    const sam = await api.newUser("newer");
    await api.call("POST", "/api/auth/password/forgot", { json: { email: sam.email } });
    const first = resetTokenIn((await smtp.nthMailTo(sam.email, 1)).text);
    await api.call("POST", "/api/auth/password/forgot", { json: { email: sam.email } });
    const second = resetTokenIn((await smtp.nthMailTo(sam.email, 2)).text);
    expectErrorShape(await api.call("POST", "/api/auth/password/reset", { json: { token: first, password: "first link passphrase" } }), 400, "invalid_reset_token");
    expect((await api.call("POST", "/api/auth/password/reset", { json: { token: second, password: "second link passphrase" } })).status).toBe(204);
  }, SLOW);

  it("an unknown email gets the same 202 and no mail", async () => {
    const known = await api.newUser("known");
    const unknownEmail = `nobody-${Date.now()}@example.com`;
    const unknown = await api.call("POST", "/api/auth/password/forgot", { json: { email: unknownEmail } });
    const knownAnswer = await api.call("POST", "/api/auth/password/forgot", { json: { email: known.email } });
    expect(unknown.status).toBe(202);
    expect({ status: unknown.status, body: unknown.body }).toEqual({ status: knownAnswer.status, body: knownAnswer.body });
    // Mail jobs run in order: once the known user's mail is here, the unknown email's job is long done.
    await smtp.nthMailTo(known.email, 1);
    expect(smtp.mailsTo(unknownEmail)).toEqual([]);
  }, SLOW);

  it("a password change requires the current password and ends every session, the caller's too", async () => {
    const ann = await api.newUser("change");
    const other = (await api.call("POST", "/api/auth/login", { json: { email: ann.email, password: ann.password } })).body;
    const newPassword = "changed passphrase here";

    expectErrorShape(await api.call("POST", "/api/auth/password/change", { json: { currentPassword: ann.password, password: newPassword } }), 401);
    expectErrorShape(await api.call("POST", "/api/auth/password/change", { token: ann.accessToken, json: { currentPassword: "not her password", password: newPassword } }), 403, "forbidden");
    expectErrorShape(await api.call("POST", "/api/auth/password/change", { token: ann.accessToken, json: { currentPassword: ann.password, password: "password" } }), 400, "invalid_request");
    expectErrorShape(await api.call("POST", "/api/auth/password/change", { token: ann.accessToken, json: { password: newPassword } }), 400, "invalid_request");
    // Nothing changed so far.
    expect((await api.call("POST", "/api/auth/login", { json: { email: ann.email, password: ann.password } })).status).toBe(200);

    const changed = await api.call("POST", "/api/auth/password/change", { token: ann.accessToken, json: { currentPassword: ann.password, password: newPassword } });
    expect(changed.status).toBe(204);
    expect(changed.headers.get("cache-control")).toBe("no-store");

    clock.advance(6_000);
    await eventually(() => sessionIsDead(api, other), "the other session to end", REVOCATION_BOUND_MS);
    await eventually(() => sessionIsDead(api, ann), "the session that changed it to end too", REVOCATION_BOUND_MS);
    // The caller signs in again, with the new password only.
    expect((await api.call("POST", "/api/auth/login", { json: { email: ann.email, password: ann.password } })).status).toBe(401);
    const again = await api.call("POST", "/api/auth/login", { json: { email: ann.email, password: newPassword } });
    expect(again.status).toBe(200);
    expect((await api.get("/api/user/me", again.body.accessToken)).status).toBe(200);
    expect((await smtp.nthMailTo(ann.email, 1)).subject).toMatch(/password was changed/i);
  }, SLOW);

  it("bad input answers 4xx in the error shape, and a refused password does not use up the link", async () => {
    const bo = await api.newUser("bad");
    expectErrorShape(await api.call("POST", "/api/auth/password/forgot", { json: { email: "not an email" } }), 400, "invalid_request");
    expectErrorShape(await api.call("POST", "/api/auth/password/forgot", { json: { email: bo.email, extra: 1 } }), 400, "invalid_request");
    expectErrorShape(await api.call("POST", "/api/auth/password/forgot", { raw: "email=x", headers: { "content-type": "text/plain" } }), 415);
    expectErrorShape(await api.call("POST", "/api/auth/password/reset", { json: { token: "short", password: "long enough passphrase" } }), 400, "invalid_request");
    expectErrorShape(await api.call("POST", "/api/auth/password/reset", { json: { token: "A".repeat(43), password: "long enough passphrase" } }), 400, "invalid_reset_token");
    expectErrorShape(await api.call("POST", "/api/auth/password/reset", { raw: "{not json", headers: { "content-type": "application/json" } }), 400, "invalid_json");

    await api.call("POST", "/api/auth/password/forgot", { json: { email: bo.email } });
    const token = resetTokenIn((await smtp.nthMailTo(bo.email, 1)).text);
    const weak = await api.call("POST", "/api/auth/password/reset", { json: { token, password: "password" } });
    expectErrorShape(weak, 400, "invalid_request");
    expect(JSON.stringify(weak.body)).not.toContain(token);
    expect((await api.call("POST", "/api/auth/password/reset", { json: { token, password: "strong enough passphrase" } })).status).toBe(204);
  }, SLOW);

  // Last: it moves the clock past the link's lifetime.
  it("an expired link is refused", async () => {
    const old = await api.newUser("expired");
    await api.call("POST", "/api/auth/password/forgot", { json: { email: old.email } });
    const token = resetTokenIn((await smtp.nthMailTo(old.email, 1)).text);
    clock.advance(61 * 60_000);
    expectErrorShape(await api.call("POST", "/api/auth/password/reset", { json: { token, password: "too late passphrase" } }), 400, "invalid_reset_token");
    expect((await api.call("POST", "/api/auth/login", { json: { email: old.email, password: old.password } })).status).toBe(200);
  }, SLOW);
});

describe.each(backends())("password reset mail as .eml files without SMTP on the $name backend", (backend) => {
  let platform: TestPlatform;
  let api: Api;

  beforeAll(async () => {
    platform = await startClockedPlatform(backend, manualClock(), { PUBLIC_BASE_URL });
    api = apiClient(platform.baseUrl);
  }, SLOW);
  afterAll(async () => platform?.stop(), SLOW);

  const mailFiles = async () => (await readdir(platform.config.paths.mail).catch(() => [] as string[])).filter((name) => name.endsWith(".eml"));

  it("writes the reset mail to DATA_DIR/mail (0600), and its link works", async () => {
    const kim = await api.newUser("eml");
    expect((await api.call("POST", "/api/auth/password/forgot", { json: { email: `nobody-${Date.now()}@example.com` } })).status).toBe(202);
    expect((await api.call("POST", "/api/auth/password/forgot", { json: { email: kim.email } })).status).toBe(202);
    const [name] = await eventually(async () => ((await mailFiles()).length > 0 ? await mailFiles() : undefined), "a .eml file");
    // One file: the unknown email's request (queued first) wrote nothing.
    expect(await mailFiles()).toHaveLength(1);
    const file = join(platform.config.paths.mail, name!);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const mail = await simpleParser(await readFile(file));
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.value[0]?.address : undefined).toBe(kim.email);
    const token = resetTokenIn(mail.text ?? "");
    expect((await api.call("POST", "/api/auth/password/reset", { json: { token, password: "from the eml file" } })).status).toBe(204);
    expect((await api.call("POST", "/api/auth/login", { json: { email: kim.email, password: "from the eml file" } })).status).toBe(200);
  }, SLOW);
});
