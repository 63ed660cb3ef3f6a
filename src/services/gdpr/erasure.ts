import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { PlatformContext } from "../../platform/context.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { createBlobReferences } from "../users/blob-references.ts";
import { appendLedgerFile, newLedgerEntry } from "./deletion-ledger.ts";
import type { LedgerEntry } from "./deletion-ledger.repository.ts";
import { eraseRowsOf, finishErasure } from "./erasure-steps.ts";
import { createGdprRepository, type ErasedRows, type Subject } from "./gdpr.repository.ts";
import { logAccountKey } from "../../platform/log-account-key.ts";
import { pseudonymiseLogs, replacementsFor } from "./log-pseudonymiser.ts";
import { pseudonymOf, subjectHashOf } from "./subject.ts";

export interface ErasureReport {
  pseudonym: string;
  dryRun: boolean;
  rows: ErasedRows;
  blobs: number;
  /** Of those, copies removed from the content backup pool (and from the content manifests naming them). */
  backupBlobs: number;
  logLines: number;
  logFiles: number;
  mailFiles: number;
}

/**
 * The right to erasure: the account, its content, attachments (and their blobs unless someone else holds
 * the same file), sessions, cache entries and mail are deleted, log lines about the person are rewritten
 * under a pseudonym, and the erasure is recorded in the deletion ledger (in the database and in the
 * ledger file) so that every restore erases the person again. With dryRun nothing changes; the report
 * says what would go. The same code serves `azora gdpr delete` and `DELETE /api/user/me`.
 */
export async function eraseSubject(context: PlatformContext, subject: Pick<Subject, "id" | "email">, options: { dryRun: boolean; requestedBy: LedgerEntry["requestedBy"] }): Promise<ErasureReport> {
  const subjectHash = subjectHashOf(subject.id);
  const pseudonym = pseudonymOf(subjectHash);
  const gdpr = createGdprRepository(context.db);
  const replacements = replacementsFor(subject, pseudonym, logAccountKey(context.masterSecret, subject.email));

  if (options.dryRun) {
    const rows = await gdpr.countsOf(subject.id);
    const logs = await pseudonymiseLogs(context.config.paths.logs, replacements, true);
    const mail = await mailAbout(context.config.paths.mail, subject.email);
    const blobs = (await gdpr.blobKeysOf(subject.id)).length;
    return { pseudonym, dryRun: true, rows, blobs, backupBlobs: blobs, logLines: logs.lines, logFiles: logs.files, mailFiles: mail.length };
  }

  const counts = await gdpr.countsOf(subject.id);
  const entry = newLedgerEntry(subjectHash, pseudonym, new Date(context.clock.now()), options.requestedBy, { ...counts });
  // The file first: if the process dies after it, the next restore (or a second run) still erases the person.
  await appendLedgerFile(context.config.paths.state, entry);
  const { rows, blobKeys } = await eraseRowsOf(context, subject.id, entry);
  const { blobsRemoved } = await finishErasure(context, subject.id, blobKeys, createBlobReferences(context.db, context.blobs));
  const backupBlobs = await forgetInBackups(context, blobKeys);
  const mail = await mailAbout(context.config.paths.mail, subject.email);
  for (const file of mail) await rm(file, { force: true });
  // Lines still in this process's access-log buffer must reach the file before it is rewritten.
  context.logs.flush();
  const logs = await pseudonymiseLogs(context.config.paths.logs, replacements, false);
  // The event names the pseudonym only: this line is written after the rewrite and must not undo it.
  context.logs.security.info(
    { event: LogEvent.GDPR_ERASURE, subject: pseudonym, requestedBy: options.requestedBy, ...rows, blobs: blobsRemoved, backupBlobs, logLines: logs.lines },
    "personal data erased",
  );
  return { pseudonym, dryRun: false, rows, blobs: blobsRemoved, backupBlobs, logLines: logs.lines, logFiles: logs.files, mailFiles: mail.length };
}

/** Mail files (the embedded mailer's .eml outbox) addressed to or mentioning the person. */
async function mailAbout(dir: string, email: string): Promise<string[]> {
  const found: string[] = [];
  const needle = email.toLowerCase();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith(".eml")) continue;
    const path = join(dir, name);
    if ((await readFile(path, "utf8")).toLowerCase().includes(needle)) found.push(path);
  }
  return found;
}

/**
 * The person's files leave the content backup pool too (ADR 0332). A content backup running now holds the
 * pool's lock: the erasure does not wait for it (a person erasing themselves waits on this request), the
 * keys stay pending and that backup removes them before it writes its manifest.
 */
async function forgetInBackups(context: PlatformContext, blobKeys: string[]): Promise<number> {
  // Loaded here: the content backup code belongs to the operations side, and only a real erasure needs it.
  const { forgetInContentBackups } = await import("../../ops/backup/content-erasure.ts");
  const { removed, pending } = await forgetInContentBackups(context, blobKeys, { retries: 2 });
  if (pending) context.logs.api.warn({ blobs: blobKeys.length }, "content backup running: the erased files leave the content backup pool when it ends");
  return removed;
}
