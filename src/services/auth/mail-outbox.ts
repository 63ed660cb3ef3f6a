import type { Clock } from "../../platform/clock.ts";
import type { Db, Queryable } from "../../platform/db/db.ts";
import { LogEvent } from "../../platform/log-events.ts";
import type { Logger } from "../../platform/logger.ts";
import type { Mailer } from "../../platform/mailer.ts";
import type { AccountsRepository } from "./accounts.repository.ts";
import { createMailOutboxRepository, type ClaimedMail, type OutboxKind } from "./mail-outbox.repository.ts";
import { sendPasswordChangedMail, sendPasswordResetMail, type PasswordResetMailDeps } from "./password-reset-mail.ts";

/**
 * Wait before attempt n+1 after n failed ones: 30 s, 1, 2, 5, 10, 20 min. After the last, the mail is given up
 * (7 attempts over ~40 minutes: a reset link later than that is rarely still wanted; the user can ask again).
 */
export const MAIL_RETRY_DELAYS_MS = [30_000, 60_000, 120_000, 300_000, 600_000, 1_200_000];
/** A claimed mail is not claimed again (by any process) for this long: longer than the mailer's deadlines together. */
const CLAIM_LEASE_MS = 60_000;
/**
 * Mails claimed per statement: one. The lease covers one send; a batch is sent one mail after another, so against
 * a slow SMTP server the later mails' leases ran out while this process still held them, and another replica
 * claimed and sent them too (two reset links, the first voided). One UPDATE per mail is cheap.
 */
const CLAIM_BATCH = 1;

/**
 * The class of a send failure, for the log and the outbox row: an SMTP reply code or a connection error code, never
 * the error's text (SMTP replies echo the recipient's address).
 */
export function mailErrorClass(error: unknown): string {
  const { responseCode, code } = (error ?? {}) as { responseCode?: unknown; code?: unknown };
  if (typeof responseCode === "number") return `smtp_${responseCode}`;
  if (typeof code === "string" && /^[A-Z][A-Z0-9_]{1,30}$/.test(code)) return code;
  return "send_error";
}

export interface MailOutboxDeps {
  db: Db;
  clock: Clock;
  accounts: AccountsRepository;
  mailer: Mailer;
  mail: PasswordResetMailDeps["mail"];
  /** How often waiting mails are looked for (real time): retries, and mails a stopped process left behind (MAIL_OUTBOX_POLL_MS, 5 s). */
  pollMs?: number;
  /** auth.log: mail_failed, mail_sent_late */
  eventLog: Logger;
  /** Told each attempt's outcome (azora_mail_deliveries_total). */
  onDelivery?: (kind: OutboxKind, outcome: DeliveryOutcome) => void;
}

/** What became of one delivery attempt: sent, failed and tried again later, failed for the last time, or not owed any more. */
export const DELIVERY_OUTCOMES = ["sent", "retried", "given_up", "skipped"] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

/**
 * Delivers the mails of the outbox table: at once when one is added, then on failure with back-off, and whatever
 * a stopped process left. Rows are claimed with a lease, so replicas on one database never send one mail twice.
 */
export function createMailOutbox(deps: MailOutboxDeps) {
  const { db, clock, eventLog } = deps;
  // Polling is housekeeping: its statements stay out of the served-request query count (db.background).
  const outbox = createMailOutboxRepository(db.background);
  const mailDeps: PasswordResetMailDeps = { db, clock, mail: deps.mail, mailer: deps.mailer };
  let running: Promise<void> | undefined;
  let again = false;
  let timer: ReturnType<typeof setInterval> | undefined;

  /** Sends the row's mail; false when it is not owed any more (the row is closed as given up, not counted as a failure). */
  async function send(row: ClaimedMail): Promise<boolean> {
    const account = await deps.accounts.findById(row.userId);
    // Erased accounts take their rows with them (ON DELETE CASCADE); a disabled one gets no reset link.
    if (!account || (row.kind === "reset_link" && account.disabledAt)) {
      await outbox.markFailed(row.id, "account_unavailable", new Date(clock.now()), undefined);
      return false;
    }
    if (row.kind === "reset_link") await sendPasswordResetMail(mailDeps, account);
    else await sendPasswordChangedMail(deps.mailer, account.email, row.kind === "reset_notice" ? "reset" : "change");
    return true;
  }

  /**
   * Mails the SMTP server accepted whose sent mark could not be written (the database failed at that moment), with
   * when they went out. They are never sent again by this process: the mark is written at the next run, and a row
   * this process claims again meanwhile (its lease ran out) is marked, not sent. Only another process claiming it
   * after the lease (60 s) while this one still cannot write, or this one stopping first, sends it again: each
   * process sends a mail at most once.
   */
  const sentUnrecorded = new Map<string, Date>();

  /** Writes the sent marks still owed; one that fails again stays owed (a claim of its row marks it too). */
  async function recordOwedMarks(): Promise<void> {
    for (const [id, at] of sentUnrecorded) {
      try {
        await outbox.markSent(id, at);
        sentUnrecorded.delete(id);
      } catch {
        // Still refused: kept for the next run; logged when the mark first failed.
      }
    }
  }

  async function attempt(row: ClaimedMail): Promise<void> {
    let owed: boolean;
    try {
      owed = await send(row);
    } catch (error) {
      const errorClass = mailErrorClass(error);
      const now = clock.now();
      const delay = MAIL_RETRY_DELAYS_MS[row.attempts - 1];
      const retryAt = delay === undefined ? undefined : new Date(now + delay);
      await outbox.markFailed(row.id, errorClass, new Date(now), retryAt);
      deps.onDelivery?.(row.kind, retryAt ? "retried" : "given_up");
      eventLog.error(
        { event: LogEvent.MAIL_FAILED, kind: row.kind, outboxId: row.id, userId: row.userId, attempts: row.attempts, error: errorClass, ...(retryAt ? { retryAt: retryAt.toISOString() } : { givenUp: true }) },
        retryAt ? "mail not sent; it will be tried again" : "mail not sent; given up after the last attempt",
      );
      return;
    }
    if (!owed) {
      deps.onDelivery?.(row.kind, "skipped");
      return;
    }
    // Sent: from here on a failure is the mark's, never a reason to send again.
    deps.onDelivery?.(row.kind, "sent");
    if (row.attempts > 1) eventLog.info({ event: LogEvent.MAIL_SENT_LATE, kind: row.kind, outboxId: row.id, userId: row.userId, attempts: row.attempts }, "mail sent after failed attempts");
    const at = new Date(clock.now());
    try {
      await outbox.markSent(row.id, at);
    } catch (error) {
      sentUnrecorded.set(row.id, at);
      eventLog.error(
        { event: LogEvent.MAIL_FAILED, kind: row.kind, outboxId: row.id, userId: row.userId, attempts: row.attempts, error: mailErrorClass(error), stage: "mark_sent" },
        "mail sent, but its sent mark could not be written; it is written at the next run and the mail is not sent again",
      );
      throw error;
    }
  }

  async function drain(): Promise<void> {
    do {
      again = false;
      await recordOwedMarks();
      for (;;) {
        const now = clock.now();
        const due = await outbox.claimDue(new Date(now), new Date(now + CLAIM_LEASE_MS), CLAIM_BATCH);
        for (const row of due) {
          const sentAt = sentUnrecorded.get(row.id);
          if (sentAt) {
            // Sent by this process already, its mark still owed: mark it, do not send it again.
            await outbox.markSent(row.id, sentAt);
            sentUnrecorded.delete(row.id);
          } else await attempt(row);
        }
        if (due.length < CLAIM_BATCH) break;
      }
    } while (again);
  }

  /** Sends what is due now; one run at a time (a call during a run makes the run look again). */
  function deliver(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = drain()
      .catch((error: unknown) => eventLog.error({ event: LogEvent.MAIL_FAILED, error: mailErrorClass(error), stage: "outbox" }, "mail outbox could not be read"))
      .finally(() => void (running = undefined));
    return running;
  }

  return {
    /** Records a mail owed to the user (inside the caller's transaction when `tx` is one); deliver() sends it. */
    add: (tx: Queryable, userId: string, kind: OutboxKind) => createMailOutboxRepository(tx).add(userId, kind, new Date(clock.now())),
    hasPending: (userId: string, kind: OutboxKind) => outbox.hasPending(userId, kind),
    /** Mails of this kind added for the user since `since`: requests, not attempts (a retry adds no row). */
    countAddedSince: (userId: string, kind: OutboxKind, since: Date) => outbox.countAddedSince(userId, kind, since),
    deliver,
    /** Looks for due mails every few seconds (retries, and mails left by a process that stopped). */
    start(): void {
      timer ??= setInterval(() => void deliver(), deps.pollMs ?? 5_000);
      timer.unref();
      void deliver();
    },
    /** Stops looking and waits for the run in progress. */
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}

export type MailOutbox = ReturnType<typeof createMailOutbox>;
