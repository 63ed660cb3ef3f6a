import type { Readable } from "node:stream";
import type { BlobStore } from "../../platform/blobs/blob-store.ts";
import { sniffContentType } from "../../platform/blobs/sniff.ts";
import { BlobTooLargeError, stageBlob, type StagedBlob } from "../../platform/blobs/staging.ts";
import type { Attachment, AttachmentsRepository } from "./attachments.repository.ts";
import type { BlobReferences } from "./blob-references.ts";
import type { ContentItem } from "./content.repository.ts";

export type AttachmentResult = { ok: true; attachment: Attachment } | { ok: false; reason: "not_found" };
export type UploadResult = AttachmentResult | { ok: false; reason: "too_large" | "empty" };
export type DownloadResult = { ok: true; attachment: Attachment; body: Readable } | { ok: false; reason: "not_found" | "blob_missing" };

export interface AttachmentsServiceDeps {
  attachments: AttachmentsRepository;
  references: BlobReferences;
  blobs: BlobStore;
  maxBytes: number;
  /** The content item if the caller may reach it (owner or admin), as the content service decides. */
  reachableContent: (callerId: string, contentId: string) => Promise<ContentItem | undefined>;
}

/** Files attached to content: whoever may reach the content may reach its files. */
export function createAttachmentsService(deps: AttachmentsServiceDeps) {
  const { attachments, references } = deps;

  return {
    /** Stores one uploaded file; the type is sniffed from its bytes, the name kept only for downloads. */
    async upload(callerId: string, contentId: string, file: { stream: Readable; filename: string }): Promise<UploadResult> {
      const item = await deps.reachableContent(callerId, contentId);
      if (!item) {
        file.stream.resume();
        return { ok: false, reason: "not_found" };
      }
      let staged: StagedBlob;
      try {
        staged = await stageBlob(file.stream, deps.blobs.stagingDir, deps.maxBytes);
      } catch (error) {
        if (error instanceof BlobTooLargeError) return { ok: false, reason: "too_large" };
        throw error;
      }
      if (staged.size === 0) {
        await staged.discard();
        return { ok: false, reason: "empty" };
      }
      const contentType = sniffContentType(staged.head, staged.size);
      // The attachment belongs to the content's owner (whose personal data it is), even when an admin uploads it.
      const attachment = await references.store(staged, (repository) =>
        repository.insert({ contentId, ownerId: item.ownerId, filename: safeFilename(file.filename), contentType, size: staged.size, sha256: staged.key }),
      );
      return { ok: true, attachment };
    },

    async list(callerId: string, contentId: string): Promise<Attachment[] | undefined> {
      if (!(await deps.reachableContent(callerId, contentId))) return undefined;
      return attachments.listByContent(contentId);
    },

    async download(callerId: string, contentId: string, id: string): Promise<DownloadResult> {
      if (!(await deps.reachableContent(callerId, contentId))) return { ok: false, reason: "not_found" };
      const attachment = await attachments.find(contentId, id);
      if (!attachment) return { ok: false, reason: "not_found" };
      const body = await deps.blobs.get(attachment.sha256);
      return body ? { ok: true, attachment, body } : { ok: false, reason: "blob_missing" };
    },

    async remove(callerId: string, contentId: string, id: string): Promise<boolean> {
      if (!(await deps.reachableContent(callerId, contentId))) return false;
      const key = await attachments.delete(contentId, id);
      if (!key) return false;
      await references.release([key]);
      return true;
    },
  };
}

export type AttachmentsService = ReturnType<typeof createAttachmentsService>;

/**
 * The name a file is offered under: the last path segment, without control characters, at most 255
 * characters. It is only ever sent back in Content-Disposition, never used as a path.
 */
export function safeFilename(given: string): string {
  const lastSegment = given.split(/[\\/]/).pop() ?? "";
  // Sliced by code point, so a character outside the BMP is never cut in half.
  const cleaned = [...lastSegment.replace(/[\p{Cc}\p{Cf}\p{Cs}]/gu, "").trim()].slice(0, 255).join("");
  return cleaned === "" || cleaned === "." || cleaned === ".." ? "attachment" : cleaned;
}

/** Content-Disposition for a download: an ASCII fallback name plus the exact name in RFC 5987 form. */
export function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}
