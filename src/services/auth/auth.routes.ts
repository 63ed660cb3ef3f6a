import { z } from "zod";
import { AppError } from "../../platform/errors.ts";
import { parseInput, type FastifyInstance } from "../../platform/http.ts";
import { requireCaller, type TokenVerifier } from "../../platform/token-verifier.ts";
import { personName } from "../../platform/validation.ts";
import type { AccountsRepository } from "./accounts.repository.ts";
import type { AuthService } from "./auth.service.ts";
import type { Signer } from "./signing-keys.ts";

const email = z.string().trim().toLowerCase().pipe(z.email("must be an email address").max(254));
const newPassword = z.string().min(8, "must be at least 8 characters").max(256, "must be at most 256 characters");
const refreshToken = z.string().min(20).max(200);

const registerBody = z.strictObject({ email, password: newPassword, name: personName.optional() });
const loginBody = z.strictObject({ email, password: z.string().min(1).max(256) });
const refreshBody = z.strictObject({ refreshToken });

export interface AuthRouteDeps {
  auth: AuthService;
  accounts: AccountsRepository;
  signer: Signer;
  verifier: TokenVerifier;
}

/** Routes validate and delegate; every failed login looks the same to the caller. */
export function registerAuthRoutes(app: FastifyInstance, deps: AuthRouteDeps): void {
  app.post("/api/auth/register", async (request, reply) => {
    const input = parseInput(registerBody, request.body);
    await deps.auth.register({ email: input.email, password: input.password, name: input.name ?? null });
    return reply.code(202).send({ status: "accepted" });
  });

  app.post("/api/auth/login", async (request) => {
    const input = parseInput(loginBody, request.body);
    const result = await deps.auth.login({ ...input, ip: request.ip });
    if (!result.ok) throw new AppError("invalid_credentials", "The email or password is wrong.");
    return result.tokens;
  });

  app.post("/api/auth/refresh", async (request) => {
    const input = parseInput(refreshBody, request.body);
    const result = await deps.auth.refresh({ refreshToken: input.refreshToken, ip: request.ip });
    if (result.ok) return result.tokens;
    if (result.reason === "reused") throw new AppError("token_reused", "This refresh token was already used; sign in again.");
    throw new AppError("invalid_token", "The refresh token is invalid or expired.");
  });

  app.post("/api/auth/logout", async (request, reply) => {
    const input = parseInput(refreshBody, request.body);
    await deps.auth.logout(input.refreshToken);
    return reply.code(204).send();
  });

  app.get("/api/auth/me", async (request) => {
    const caller = await requireCaller(deps.verifier, request.headers.authorization);
    const account = await deps.accounts.findById(caller.sub);
    if (!account || account.disabledAt) throw new AppError("invalid_token", "The access token is invalid or expired.");
    return { id: account.id, email: account.email, name: account.name, role: account.role, createdAt: account.createdAt.toISOString() };
  });

  app.get("/.well-known/jwks.json", async (_request, reply) => {
    reply.header("cache-control", "public, max-age=300");
    return deps.signer.jwks();
  });
}
