import type { FastifyRequest } from "fastify";
import multipart from "@fastify/multipart";
import { z } from "zod";
import { AppError, errors } from "../../platform/errors.ts";
import { parseInput, type FastifyInstance } from "../../platform/http.ts";
import { requireCaller, type TokenVerifier } from "../../platform/token-verifier.ts";
import { uuid } from "../../platform/validation.ts";
import { contentDisposition, type AttachmentsService } from "./attachments.service.ts";

const contentParams = z.object({ id: uuid });
const attachmentParams = z.object({ id: uuid, attachmentId: uuid });

export interface AttachmentRouteDeps {
  attachments: AttachmentsService;
  verifier: TokenVerifier;
  maxBytes: number;
}

/** Files on content: multipart upload (form field `file`), list, download, delete. */
export function registerAttachmentRoutes(app: FastifyInstance, deps: AttachmentRouteDeps): void {
  // Its own scope, so multipart bodies are parsed on these routes only (elsewhere a form stays a 415).
  app.register(async (scope) => {
    // One file per request. busboy cuts a file one byte past the limit; the staging step sees that byte and refuses.
    await scope.register(multipart, { limits: { fileSize: deps.maxBytes + 1, files: 1, fields: 10, parts: 11, fieldSize: 1024, headerPairs: 100 } });
    registerRoutes(scope, deps);
  });
}

function registerRoutes(app: FastifyInstance, deps: AttachmentRouteDeps): void {
  const caller = (request: FastifyRequest) => requireCaller(deps.verifier, request);

  app.post("/api/content/:id/attachments", async (request, reply) => {
    const me = await caller(request);
    const { id } = parseInput(contentParams, request.params, "path");
    if (!request.isMultipart()) throw new AppError("unsupported_media_type", "Send the file as multipart/form-data in the field \"file\".");
    const part = await request.file();
    if (!part) throw new AppError("invalid_request", "No file in the request: send it as multipart/form-data in the field \"file\".");
    if (part.fieldname !== "file") {
      part.file.resume();
      throw new AppError("invalid_request", `The file must be sent in the field "file", not "${part.fieldname.slice(0, 50)}".`);
    }
    const result = await deps.attachments.upload(me.sub, id, { stream: part.file, filename: part.filename });
    if (!result.ok) {
      if (result.reason === "too_large") throw new AppError("payload_too_large", `The file is larger than ${deps.maxBytes} bytes.`);
      if (result.reason === "empty") throw new AppError("invalid_request", "The file is empty.");
      throw errors.notFound("Content");
    }
    return reply.code(201).header("location", `/api/content/${id}/attachments/${result.attachment.id}`).send(publicView(result.attachment));
  });

  app.get("/api/content/:id/attachments", async (request) => {
    const me = await caller(request);
    const { id } = parseInput(contentParams, request.params, "path");
    const items = await deps.attachments.list(me.sub, id);
    if (!items) throw errors.notFound("Content");
    return { items: items.map(publicView) };
  });

  app.get("/api/content/:id/attachments/:attachmentId", async (request, reply) => {
    const me = await caller(request);
    const { id, attachmentId } = parseInput(attachmentParams, request.params, "path");
    const result = await deps.attachments.download(me.sub, id, attachmentId);
    if (!result.ok) {
      if (result.reason === "blob_missing") throw new Error(`attachment ${attachmentId}: its blob is missing from the store`);
      throw errors.notFound("Attachment");
    }
    const { attachment } = result;
    return reply
      .header("content-type", attachment.contentType)
      .header("content-length", String(attachment.size))
      .header("content-disposition", contentDisposition(attachment.filename))
      // The browser must take the type we sniffed, and never run what it opens from here.
      .header("x-content-type-options", "nosniff")
      .header("content-security-policy", "default-src 'none'; sandbox")
      .header("cache-control", "private, no-store")
      .send(result.body);
  });

  app.delete("/api/content/:id/attachments/:attachmentId", async (request, reply) => {
    const me = await caller(request);
    const { id, attachmentId } = parseInput(attachmentParams, request.params, "path");
    if (!(await deps.attachments.remove(me.sub, id, attachmentId))) throw errors.notFound("Attachment");
    return reply.code(204).send();
  });
}

/** What a client sees of an attachment (the owner's id and the blob's hash stay inside). */
function publicView(attachment: { id: string; contentId: string; filename: string; contentType: string; size: number; createdAt: string }) {
  const { id, contentId, filename, contentType, size, createdAt } = attachment;
  return { id, contentId, filename, contentType, size, createdAt };
}
