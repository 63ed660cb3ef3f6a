import { PassThrough, type Readable } from "node:stream";
import { createGzip } from "node:zlib";
import type { PlatformContext } from "../../platform/context.ts";
import type { PasswordGuard } from "../auth/password-guard.ts";
import { verifyPassword } from "../auth/passwords.ts";
import { normalisePassword } from "../auth/password-policy.ts";
import { eraseSubject, type ErasureReport } from "./erasure.ts";
import { writeExport } from "./export.ts";
import { createGdprRepository } from "./gdpr.repository.ts";

export type SelfExportResult = { ok: true; archive: Readable } | { ok: false; reason: "not_found" };
export type SelfErasureResult = { ok: true; report: ErasureReport } | { ok: false; reason: "not_found" | "wrong_password" } | { ok: false; reason: "rate_limited"; retryAfterSeconds: number };

/** A person's own export and erasure (GET /api/user/me/export, DELETE /api/user/me): the operator's code, for oneself. */
export function createGdprSelfService(context: PlatformContext, guard: PasswordGuard) {
  const gdpr = createGdprRepository(context.db);
  return {
    /** The export archive as a gzip stream; a failure half-way ends the stream with an error (the client sees a cut download). */
    async export(userId: string): Promise<SelfExportResult> {
      const subject = await gdpr.findSubjectById(userId);
      if (!subject || subject.disabledAt) return { ok: false, reason: "not_found" };
      const tar = new PassThrough();
      const archive = tar.pipe(createGzip());
      writeExport(context, subject, tar, "self-service").then(
        () => tar.end(),
        (error: unknown) => {
          context.logs.api.error({ err: error, userId }, "self-service export failed");
          archive.destroy(error instanceof Error ? error : new Error(String(error)));
        },
      );
      return { ok: true, archive };
    },

    /** Erases the caller after they typed their password again: a stolen access token alone cannot erase an account. */
    async erase(userId: string, password: string, ip: string): Promise<SelfErasureResult> {
      const subject = await gdpr.findSubjectById(userId);
      if (!subject || subject.disabledAt) return { ok: false, reason: "not_found" };
      // The same limiter as login: a stolen access token must not buy unlimited password guesses here.
      const verdict = await guard.guardPasswordCheck({ account: subject.email, ip, purpose: "erasure" }, async () => {
        const normalised = normalisePassword(password);
        if (normalised === undefined) return false;
        return (await verifyPassword(subject.passwordHash, normalised)) || (normalised !== password && (await verifyPassword(subject.passwordHash, password)));
      });
      if (!verdict.ok) return verdict.reason === "rate_limited" ? verdict : { ok: false, reason: "wrong_password" };
      return { ok: true, report: await eraseSubject(context, subject, { dryRun: false, requestedBy: "self-service" }) };
    },
  };
}

export type GdprSelfService = ReturnType<typeof createGdprSelfService>;
