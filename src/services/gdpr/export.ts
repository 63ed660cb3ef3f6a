import type { Writable } from "node:stream";
import type { PlatformContext } from "../../platform/context.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { createAttachmentsRepository } from "../users/attachments.repository.ts";
import { createGdprRepository, type Subject } from "./gdpr.repository.ts";
import { linesAbout } from "./log-pseudonymiser.ts";
import { createTarWriter } from "./tar-writer.ts";

export const EXPORT_FORMAT = "azora-gdpr-export/1";

export interface ExportReport {
  files: number;
  bytes: number;
  content: number;
  attachments: number;
  events: number;
}

/**
 * The right of access: one tar archive (the caller gzips it) with everything held about the person —
 * profile, session metadata, content, attachments with their files, and the log events about them — a
 * manifest listing each file's size and SHA-256, and SHA256SUMS for `sha256sum -c`. The same code serves
 * `azora gdpr export` and `GET /api/user/me/export`.
 */
export async function writeExport(context: PlatformContext, subject: Subject, out: Writable, requestedBy: "operator" | "self-service"): Promise<ExportReport> {
  const generatedAt = new Date(context.clock.now());
  const gdpr = createGdprRepository(context.db);
  const tar = createTarWriter(out, generatedAt);
  const json = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 2)}\n`);

  const { passwordHash: _secret, ...profile } = subject;
  await tar.addBuffer("profile.json", json(profile));
  await tar.addBuffer("sessions.json", json(await gdpr.sessionsOf(subject.id)));
  const content = await gdpr.contentOf(subject.id);
  await tar.addBuffer("content.json", json(content));

  const attachments = await createAttachmentsRepository(context.db).listByOwner(subject.id);
  const listed = attachments.map(({ ownerId: _owner, ...attachment }) => ({ ...attachment, file: `attachments/${attachment.id}/${archiveName(attachment.filename)}` }));
  await tar.addBuffer("attachments.json", json(listed));
  for (const attachment of listed) {
    const body = await context.blobs.get(attachment.sha256);
    if (!body) throw new Error(`attachment ${attachment.id}: its blob is missing from the store`);
    await tar.addStream(attachment.file, attachment.size, body);
  }

  const events = await linesAbout(context.config.paths.logs, [subject.id.toLowerCase(), subject.email.toLowerCase()]);
  await tar.addBuffer("events.jsonl", Buffer.from(events.map((event) => `${JSON.stringify(event)}\n`).join("")));

  const files = [...tar.entries()];
  const manifest = {
    format: EXPORT_FORMAT,
    generatedAt: generatedAt.toISOString(),
    subject: { id: subject.id, email: subject.email },
    counts: { content: content.length, attachments: attachments.length, events: events.length },
    files: files.map(({ path, bytes, sha256 }) => ({ path, bytes, sha256 })),
  };
  await tar.addBuffer("manifest.json", json(manifest));
  const sums = tar.entries().map((entry) => `${entry.sha256}  ${entry.path}\n`).join("");
  await tar.addBuffer("SHA256SUMS", Buffer.from(sums));
  await tar.finish();

  context.logs.security.info(
    { event: LogEvent.GDPR_EXPORT, userId: subject.id, requestedBy, files: tar.entries().length, content: content.length, attachments: attachments.length },
    "personal data exported",
  );
  const bytes = tar.entries().reduce((total, entry) => total + entry.bytes, 0);
  return { files: tar.entries().length, bytes, content: content.length, attachments: attachments.length, events: events.length };
}

/** A file name safe inside an archive on any system: ASCII letters, digits, dot, dash and underscore. */
function archiveName(filename: string): string {
  const safe = filename.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "_").slice(0, 80);
  return safe || "file";
}
