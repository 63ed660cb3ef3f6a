import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { AppError, errors } from "../../platform/errors.ts";
import { parseInput, type FastifyInstance } from "../../platform/http.ts";
import { requireCaller, type TokenVerifier } from "../../platform/token-verifier.ts";
import type { GdprSelfService } from "../gdpr/self-service.ts";

const erasureBody = z.strictObject({ password: z.string().min(1, "type your password to confirm").max(1024) });

/** Self-service GDPR: a person downloads everything held about them, or erases their account. */
export function registerGdprRoutes(app: FastifyInstance, deps: { gdpr: GdprSelfService; verifier: TokenVerifier }): void {
  const caller = (request: FastifyRequest) => requireCaller(deps.verifier, request);

  app.get("/api/user/me/export", async (request, reply) => {
    const me = await caller(request);
    const result = await deps.gdpr.export(me.sub);
    if (!result.ok) throw errors.notFound("User");
    return reply
      .type("application/gzip")
      .header("content-disposition", 'attachment; filename="azora-data-export.tar.gz"')
      .header("x-content-type-options", "nosniff")
      .header("cache-control", "private, no-store")
      .send(result.archive);
  });

  app.delete("/api/user/me", async (request, reply) => {
    const me = await caller(request);
    const { password } = parseInput(erasureBody, request.body);
    const result = await deps.gdpr.erase(me.sub, password, request.ip);
    if (!result.ok) {
      if (result.reason === "rate_limited") {
        throw new AppError("rate_limited", "Too many wrong passwords from this address; try again later.", { headers: { "retry-after": String(result.retryAfterSeconds) } });
      }
      if (result.reason === "wrong_password") throw new AppError("forbidden", "The password is not right; the account was not erased.");
      throw errors.notFound("User");
    }
    return reply.code(204).send();
  });
}
