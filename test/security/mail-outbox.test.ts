import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningPlatform } from "../../src/runtime.ts";
import { MAIL_RETRY_DELAYS_MS } from "../../src/services/auth/mail-outbox.ts";
import { RESET_MAILS_PER_ACCOUNT_HOUR } from "../../src/services/auth/password-reset.service.ts";
import type { Config } from "../../src/platform/config.ts";
import { apiClient, expectErrorShape, metricValue } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { eventually } from "../helpers/free-port.ts";
import { provisionTestPlatform, type TestInstallation } from "../helpers/platform.ts";
import { logFilesText } from "../helpers/security.ts";
import { manualClock } from "../helpers/security-platform.ts";
import { resetTokenIn, startSmtpServer, type SmtpServer } from "../helpers/smtp.ts";

const SLOW = 300_000;
// The outbox looks for due mails every MAIL_OUTBOX_POLL_MS (real time; 5 s by default): each retry below waits
// for the next look after the injected clock moves, so a short one keeps the suite from sleeping through a dozen
// of them per backend. The bound only keeps a broken build from hanging.
const OUTBOX_POLL_MS = "250";
const DELIVERY_BOUND_MS = 30_000;

interface OutboxRow {
  kind: string;
  attempts: number;
  last_error: string | null;
  sent_at: Date | null;
  failed_at: Date | null;
}

describe.each(backends())("mail through a failing SMTP server on the $name backend", (backend) => {
  const clock = manualClock();
  let smtp: SmtpServer;
  let installation: TestInstallation | undefined;
  let config: Config;
  let running: RunningPlatform | undefined;
  const start = async () => {
    running = await installation!.start();
    return apiClient(running.urls.gateway ?? "");
  };
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    installation = await provisionTestPlatform(backend, { SMTP_URL: smtp.url, PUBLIC_BASE_URL: "https://accounts.azora.test", MAIL_OUTBOX_POLL_MS: OUTBOX_POLL_MS }, { clock });
    config = installation.config;
    api = await start();
  }, SLOW);
  afterAll(async () => {
    await running?.stop();
    await installation?.dispose();
    await smtp?.close();
  }, SLOW);

  const outboxOf = async (userId: string) =>
    running!.context.db.query<OutboxRow>("SELECT kind, attempts, last_error, sent_at, failed_at FROM mail_outbox WHERE user_id = $1 ORDER BY created_at", [userId]);
  const logText = () => logFilesText({ running: running!, config });
  const mailFailedLines = async (userId: string) =>
    (await logText())
      .split("\n")
      .filter((line) => line.includes('"event":"mail_failed"') && line.includes(userId))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  // Read through the ops port's real /metrics, as Prometheus scrapes it.
  const metric = async (name: string, labels: Record<string, string> = {}) =>
    metricValue(await (await fetch(new URL("/metrics", running!.urls.ops))).text(), name, labels);
  const rateLimitedLines = async (userId: string) =>
    (await logText()).split("\n").filter((line) => line.includes('"event":"RATE_LIMIT_EXCEEDED"') && line.includes(userId) && line.includes("reset_mails_per_account_hour"));
  const allSent = async (userId: string) =>
    eventually(async () => ((await outboxOf(userId)).every((r) => r.sent_at !== null) || undefined), "every mail of the outbox sent", DELIVERY_BOUND_MS);

  it("forgot-password answers 202 alike while the SMTP server refuses; the failure is logged without the address, kept, and retried", async () => {
    const jane = await api.newUser("smtp-down");
    smtp.refuse(true);
    const known = await api.call("POST", "/api/auth/password/forgot", { json: { email: jane.email } });
    const unknown = await api.call("POST", "/api/auth/password/forgot", { json: { email: `nobody-${Date.now()}@example.com` } });
    expect(known.status).toBe(202);
    expect({ status: unknown.status, body: unknown.body }).toEqual({ status: known.status, body: known.body });

    const [failed] = await eventually(async () => ((await mailFailedLines(jane.id)).length > 0 ? mailFailedLines(jane.id) : undefined), "mail_failed in auth.log");
    expect(failed).toMatchObject({ kind: "reset_link", attempts: 1, error: "smtp_451" });
    expect(typeof failed!.retryAt).toBe("string");
    // The server's reply named the address: the log line holds only the reply code.
    expect(await logText()).not.toContain(jane.email);
    const [row] = await outboxOf(jane.id);
    expect(row).toMatchObject({ kind: "reset_link", attempts: 1, last_error: "smtp_451", sent_at: null, failed_at: null });
    expect(smtp.mailsTo(jane.email)).toEqual([]);

    // A second request while the first mail waits adds nothing: one link goes out when the server is back.
    await api.call("POST", "/api/auth/password/forgot", { json: { email: jane.email } });
    smtp.refuse(false);
    clock.advance(MAIL_RETRY_DELAYS_MS[0]! + 1_000);
    const mail = await smtp.nthMailTo(jane.email, 1);
    const token = resetTokenIn(mail.text);
    expect((await api.call("POST", "/api/auth/password/reset", { json: { token, password: "back after the outage" } })).status).toBe(204);
    expect((await outboxOf(jane.id)).filter((r) => r.kind === "reset_link")).toHaveLength(1);
    await allSent(jane.id);
    expect((await outboxOf(jane.id)).map((r) => r.kind)).toEqual(["reset_link", "reset_notice"]);
    expect(await metric("azora_mail_deliveries_total", { kind: "reset_link", outcome: "sent" })).toBeGreaterThanOrEqual(1);
    expect(await metric("azora_mail_deliveries_total", { kind: "reset_notice", outcome: "sent" })).toBeGreaterThanOrEqual(1);
    expect(await logText()).not.toContain(token);
    expect(await logText()).toContain('"event":"mail_sent_late"');
  }, SLOW);

  it("a mail that keeps failing is given up after its last attempt and recorded as failed", async () => {
    const sam = await api.newUser("smtp-gone");
    smtp.refuse(true);
    const link = { kind: "reset_link" };
    const [retriedBefore, givenUpBefore] = [await metric("azora_mail_deliveries_total", { ...link, outcome: "retried" }), await metric("azora_mail_deliveries_total", { ...link, outcome: "given_up" })];
    await api.call("POST", "/api/auth/password/forgot", { json: { email: sam.email } });
    let waited = 0;
    for (let attempt = 1; attempt <= MAIL_RETRY_DELAYS_MS.length + 1; attempt++) {
      await eventually(async () => ((await outboxOf(sam.id))[0]?.attempts === attempt && (await mailFailedLines(sam.id)).length === attempt) || undefined, `attempt ${attempt}`, DELIVERY_BOUND_MS);
      if (attempt <= MAIL_RETRY_DELAYS_MS.length) {
        // Operators see the mail waiting, for as long as it has waited (on the injected clock), and each retry.
        expect(await metric("azora_mail_outbox_pending", link)).toBe(1);
        expect(await metric("azora_mail_outbox_oldest_pending_seconds", link)).toBeGreaterThanOrEqual(waited / 1000);
        expect(await metric("azora_mail_deliveries_total", { ...link, outcome: "retried" })).toBe(retriedBefore + attempt);
      }
      const delay = MAIL_RETRY_DELAYS_MS[attempt - 1];
      if (delay !== undefined) {
        clock.advance(delay + 1_000);
        waited += delay + 1_000;
      }
    }
    expect(waited / 1000).toBeGreaterThan(600);
    expect(await metric("azora_mail_deliveries_total", { ...link, outcome: "given_up" })).toBe(givenUpBefore + 1);
    expect(await metric("azora_mail_deliveries_total", { ...link, outcome: "retried" })).toBe(retriedBefore + MAIL_RETRY_DELAYS_MS.length);
    // Given up is no longer waiting: the backlog series are gone, the kind reads 0.
    expect(await metric("azora_mail_outbox_pending", link)).toBe(0);
    expect(await (await fetch(new URL("/metrics", running!.urls.ops))).text()).not.toMatch(/^azora_mail_outbox_oldest_pending_seconds\{/m);
    const [row] = await outboxOf(sam.id);
    expect(row!.failed_at).not.toBeNull();
    expect(row!.sent_at).toBeNull();
    const lines = await mailFailedLines(sam.id);
    expect(lines.at(-1)).toMatchObject({ givenUp: true, error: "smtp_451" });
    // Given up means given up: once the server accepts again, nothing more is sent.
    smtp.refuse(false);
    clock.advance(24 * 3600_000);
    // A later mail's delivery proves a run of the outbox after the clock moved (no sleeping on its poll): that
    // run claims every due row in one statement, so a row not truly given up would have been claimed (its attempts
    // counted, below) by then.
    const later = await api.newUser("smtp-after-give-up");
    await api.call("POST", "/api/auth/password/forgot", { json: { email: later.email } });
    await smtp.nthMailTo(later.email, 1);
    expect(smtp.mailsTo(sam.email)).toEqual([]);
    expect((await outboxOf(sam.id))[0]!.attempts).toBe(MAIL_RETRY_DELAYS_MS.length + 1);
  }, SLOW);

  it("retries of one reset mail during an outage do not count toward the account's hourly cap; the user's own requests do", async () => {
    const ana = await api.newUser("smtp-cap");
    const forgot = () => api.call("POST", "/api/auth/password/forgot", { json: { email: ana.email } });
    smtp.refuse(true);
    expect((await forgot()).status).toBe(202);
    // As many failed attempts as the cap: each issued (and voided) a reset token.
    for (let attempt = 1; attempt <= RESET_MAILS_PER_ACCOUNT_HOUR; attempt++) {
      await eventually(async () => ((await outboxOf(ana.id))[0]?.attempts === attempt && (await mailFailedLines(ana.id)).length === attempt) || undefined, `attempt ${attempt}`, DELIVERY_BOUND_MS);
      if (attempt === RESET_MAILS_PER_ACCOUNT_HOUR) smtp.refuse(false);
      clock.advance(MAIL_RETRY_DELAYS_MS[attempt - 1]! + 1_000);
    }
    await smtp.nthMailTo(ana.email, 1);
    await allSent(ana.id);
    const elapsed = MAIL_RETRY_DELAYS_MS.slice(0, RESET_MAILS_PER_ACCOUNT_HOUR).reduce((sum, delay) => sum + delay + 1_000, 0);
    expect(elapsed).toBeLessThan(3_600_000);

    // Still within the hour: that was one request, so the user's next ones get their mails, up to the cap.
    for (let request = 2; request <= RESET_MAILS_PER_ACCOUNT_HOUR; request++) {
      expect((await forgot()).status).toBe(202);
      resetTokenIn((await smtp.nthMailTo(ana.email, request)).text);
      await allSent(ana.id);
    }
    expect(await rateLimitedLines(ana.id)).toEqual([]);
    // The cap itself still holds: the request after the fifth is answered alike and dropped.
    expect((await forgot()).status).toBe(202);
    await eventually(async () => ((await rateLimitedLines(ana.id)).length === 1) || undefined, "RATE_LIMIT_EXCEEDED for the sixth request");
    expect((await outboxOf(ana.id)).filter((r) => r.kind === "reset_link")).toHaveLength(RESET_MAILS_PER_ACCOUNT_HOUR);
    expect(smtp.mailsTo(ana.email)).toHaveLength(RESET_MAILS_PER_ACCOUNT_HOUR);
  }, SLOW);

  it("a mail waiting when the process stops is sent by the next start", async () => {
    const kim = await api.newUser("smtp-restart");
    smtp.refuse(true);
    await api.call("POST", "/api/auth/password/forgot", { json: { email: kim.email } });
    await eventually(async () => ((await mailFailedLines(kim.id)).length > 0) || undefined, "the first attempt to fail");
    await running!.stop();
    running = undefined;

    smtp.refuse(false);
    api = await start();
    clock.advance(MAIL_RETRY_DELAYS_MS[0]! + 1_000);
    const token = resetTokenIn((await smtp.nthMailTo(kim.email, 1)).text);
    expect((await api.call("POST", "/api/auth/password/reset", { json: { token, password: "sent by the next start" } })).status).toBe(204);
    expectErrorShape(await api.call("POST", "/api/auth/password/reset", { json: { token, password: "sent by the next start" } }), 400, "invalid_reset_token");
  }, SLOW);
});
