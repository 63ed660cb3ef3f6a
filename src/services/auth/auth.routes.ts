import { z } from "zod";
import { AppError } from "../../platform/errors.ts";
import { parseInput, type FastifyInstance } from "../../platform/http.ts";
import { requireCaller, type TokenVerifier } from "../../platform/token-verifier.ts";
import { personName } from "../../platform/validation.ts";
import type { AccountsRepository } from "./accounts.repository.ts";
import type { AuthService } from "./auth.service.ts";
import { RESET_TOKEN_PATTERN } from "./password-reset-mail.ts";
import type { PasswordResetService } from "./password-reset.service.ts";
import { checkNewPassword, PASSWORD_MIN_LENGTH } from "./password-policy.ts";
import type { Signer } from "./signing-keys.ts";

const email = z.string().trim().toLowerCase().pipe(z.email("must be an email address").max(254));
// Length, characters and the common-password list are checked by the policy (password-policy.ts); this
// bound only keeps absurd bodies out before NFKC runs.
const newPassword = z.string().max(1024, "must be at most 128 characters");
const refreshToken = z.string().min(20).max(200);

const registerBody = z.strictObject({ email, password: newPassword, name: personName.optional() });
const loginBody = z.strictObject({ email, password: z.string().min(1).max(1024) });
const refreshBody = z.strictObject({ refreshToken });
const forgotBody = z.strictObject({ email });
const resetBody = z.strictObject({ token: z.string().regex(RESET_TOKEN_PATTERN, "must be the token from the reset link"), password: newPassword });
const changeBody = z.strictObject({ currentPassword: z.string().min(1).max(1024), password: newPassword });

export interface AuthRouteDeps {
  auth: AuthService;
  accounts: AccountsRepository;
  signer: Signer;
  verifier: TokenVerifier;
  passwords: PasswordResetService;
  /** Caches outside the platform may keep the JWKS this long; never longer than a rotation waits before signing. */
  jwksMaxAgeSeconds: number;
  /** The shortest new password the policy in force accepts (`password.minLength`); absent: 8. */
  passwordMinLength?: () => number;
}

/** Routes validate and delegate; every failed login looks the same to the caller. */
export function registerAuthRoutes(app: FastifyInstance, deps: AuthRouteDeps): void {
  app.post("/api/auth/register", async (request, reply) => {
    const input = parseInput(registerBody, request.body);
    const password = acceptableNewPassword(input.password, "password", deps.passwordMinLength?.() ?? PASSWORD_MIN_LENGTH);
    await deps.auth.register({ email: input.email, password, name: input.name ?? null });
    return reply.code(202).send({ status: "accepted" });
  });

  app.post("/api/auth/login", async (request, reply) => {
    const input = parseInput(loginBody, request.body);
    const result = await deps.auth.login({ ...input, ip: request.ip });
    if (result.ok) return reply.header("cache-control", "no-store").send(result.tokens);
    if (result.reason === "rate_limited") {
      throw new AppError("rate_limited", "Too many failed sign-ins from this address; try again later.", { headers: { "retry-after": String(result.retryAfterSeconds) } });
    }
    // Unknown email, wrong password, back-off and disabled account: one answer.
    throw new AppError("invalid_credentials", "The email or password is wrong.");
  });

  app.post("/api/auth/refresh", async (request, reply) => {
    const input = parseInput(refreshBody, request.body);
    const result = await deps.auth.refresh({ refreshToken: input.refreshToken, ip: request.ip });
    if (result.ok) return reply.header("cache-control", "no-store").send(result.tokens);
    if (result.reason === "reused") throw new AppError("token_reused", "This refresh token was already used; sign in again.");
    throw new AppError("invalid_token", "The refresh token is invalid or expired.");
  });

  app.post("/api/auth/logout", async (request, reply) => {
    const input = parseInput(refreshBody, request.body);
    await deps.auth.logout(input.refreshToken);
    return reply.code(204).send();
  });

  app.get("/api/auth/me", async (request, reply) => {
    reply.header("cache-control", "no-store");
    const caller = await requireCaller(deps.verifier, request);
    const account = await deps.accounts.findById(caller.sub);
    if (!account || account.disabledAt) throw new AppError("invalid_token", "The access token is invalid or expired.");
    return { id: account.id, email: account.email, name: account.name, role: account.role, createdAt: account.createdAt.toISOString() };
  });

  // The same answer, in the same time, for every email: the lookup and the mail happen after the answer.
  app.post("/api/auth/password/forgot", async (request, reply) => {
    const input = parseInput(forgotBody, request.body);
    // Queued once the answer is written: with the embedded database a lookup runs on this thread, and
    // started earlier it would delay the answer (known emails more than unknown ones).
    reply.raw.once("close", () => deps.passwords.requestReset(input.email));
    return reply.code(202).send({ status: "accepted" });
  });

  app.post("/api/auth/password/reset", async (request, reply) => {
    const input = parseInput(resetBody, request.body);
    // The policy first: a refused password must not use up the link.
    const password = acceptableNewPassword(input.password, "password", deps.passwordMinLength?.() ?? PASSWORD_MIN_LENGTH);
    const result = await deps.passwords.reset(input.token, password, request.ip);
    // Unknown, used, voided and expired links: one answer.
    if (!result.ok) throw new AppError("invalid_reset_token", "This reset link is invalid, used or expired; ask for a new one.");
    return reply.header("cache-control", "no-store").code(204).send();
  });

  // Every session ends, the caller's included; the caller goes on with the fresh pair in the answer.
  app.post("/api/auth/password/change", async (request, reply) => {
    reply.header("cache-control", "no-store");
    const caller = await requireCaller(deps.verifier, request);
    const input = parseInput(changeBody, request.body);
    const password = acceptableNewPassword(input.password, "password", deps.passwordMinLength?.() ?? PASSWORD_MIN_LENGTH);
    const result = await deps.passwords.change({ userId: caller.sub, currentPassword: input.currentPassword, password, ip: request.ip });
    // Every session ends, the caller's too (access tokens carry no session id to spare one): the client signs in again.
    if (result.ok) return reply.code(204).send();
    if (result.reason === "rate_limited") {
      throw new AppError("rate_limited", "Too many failed password checks from this address; try again later.", { headers: { "retry-after": String(result.retryAfterSeconds) } });
    }
    if (result.reason === "unknown_account") throw new AppError("invalid_token", "The access token is invalid or expired.");
    throw new AppError("forbidden", "The current password is not right; the password was not changed.");
  });

  app.get("/.well-known/jwks.json", async (_request, reply) => {
    reply.header("cache-control", `public, max-age=${deps.jwksMaxAgeSeconds}`);
    return deps.signer.jwks();
  });
}

/**
 * The normalised password when the policy accepts it; otherwise a 400 naming the problem (exported for change
 * and reset, which must pass the policy's `password.minLength` as register does).
 */
export function acceptableNewPassword(raw: string, field: string, minLength: number): string {
  const checked = checkNewPassword(raw, minLength);
  if (checked.ok) return checked.password;
  throw new AppError("invalid_request", "The request body is invalid.", { details: { fields: [{ field, problem: checked.message }] } });
}
