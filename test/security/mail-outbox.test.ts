import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPlatform, type RunningPlatform } from "../../src/runtime.ts";
import { platformCommands } from "../../src/ops/commands.ts";
import { MAIL_RETRY_DELAYS_MS } from "../../src/services/auth/mail-outbox.ts";
import type { Config } from "../../src/platform/config.ts";
import { apiClient, expectErrorShape } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { eventually } from "../helpers/free-port.ts";
import { makeDataDir, testConfig } from "../helpers/platform.ts";
import { manualClock } from "../helpers/security-platform.ts";
import { resetTokenIn, startSmtpServer } from "../helpers/smtp.ts";

const SLOW = 300_000;
// The outbox looks for due mails every 5 s (real time); the bound only keeps a broken build from hanging.
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
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let config: Config;
  let running: RunningPlatform | undefined;
  let dispose: () => Promise<void>;
  let dataDir: string;
  const start = async () => {
    running = await startPlatform(config, { roles: ["gateway", "auth", "users"], commands: platformCommands, clock });
    return apiClient(running.urls.gateway ?? "");
  };
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    dataDir = await makeDataDir();
    const provisioned = await backend.provision();
    dispose = provisioned.dispose;
    config = testConfig({ DATA_DIR: dataDir, ...provisioned.env, SMTP_URL: smtp.url, PUBLIC_BASE_URL: "https://accounts.azora.test" });
    api = await start();
  }, SLOW);
  afterAll(async () => {
    await running?.stop();
    await dispose?.();
    await smtp?.close();
    await rm(dataDir, { recursive: true, force: true });
  }, SLOW);

  const outboxOf = async (userId: string) =>
    running!.context.db.query<OutboxRow>("SELECT kind, attempts, last_error, sent_at, failed_at FROM mail_outbox WHERE user_id = $1 ORDER BY created_at", [userId]);
  const logText = async () => {
    running!.context.logs.flush();
    const dir = config.paths.logs;
    const names = await readdir(dir).catch(() => [] as string[]);
    return (await Promise.all(names.map((name) => readFile(join(dir, name), "utf8").catch(() => "")))).join("\n");
  };
  const mailFailedLines = async (userId: string) =>
    (await logText())
      .split("\n")
      .filter((line) => line.includes('"event":"mail_failed"') && line.includes(userId))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

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
    await eventually(async () => ((await outboxOf(jane.id)).every((r) => r.sent_at !== null) || undefined), "every mail of the outbox sent", DELIVERY_BOUND_MS);
    expect((await outboxOf(jane.id)).map((r) => r.kind)).toEqual(["reset_link", "reset_notice"]);
    expect(await logText()).not.toContain(token);
    expect(await logText()).toContain('"event":"mail_sent_late"');
  }, SLOW);

  it("a mail that keeps failing is given up after its last attempt and recorded as failed", async () => {
    const sam = await api.newUser("smtp-gone");
    smtp.refuse(true);
    await api.call("POST", "/api/auth/password/forgot", { json: { email: sam.email } });
    for (let attempt = 1; attempt <= MAIL_RETRY_DELAYS_MS.length + 1; attempt++) {
      await eventually(async () => ((await outboxOf(sam.id))[0]?.attempts === attempt && (await mailFailedLines(sam.id)).length === attempt) || undefined, `attempt ${attempt}`, DELIVERY_BOUND_MS);
      const delay = MAIL_RETRY_DELAYS_MS[attempt - 1];
      if (delay !== undefined) clock.advance(delay + 1_000);
    }
    const [row] = await outboxOf(sam.id);
    expect(row!.failed_at).not.toBeNull();
    expect(row!.sent_at).toBeNull();
    const lines = await mailFailedLines(sam.id);
    expect(lines.at(-1)).toMatchObject({ givenUp: true, error: "smtp_451" });
    // Given up means given up: once the server accepts again, nothing more is sent.
    smtp.refuse(false);
    clock.advance(24 * 3600_000);
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(smtp.mailsTo(sam.email)).toEqual([]);
    expect((await outboxOf(sam.id))[0]!.attempts).toBe(MAIL_RETRY_DELAYS_MS.length + 1);
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
