import { LogEvent } from "../../platform/log-events.ts";
import type { FastifyInstance } from "../../platform/http.ts";
import { createServiceApp, type ServiceDeps } from "../../platform/service-app.ts";
import { createAccountsRepository } from "./accounts.repository.ts";
import { registerAuthRoutes } from "./auth.routes.ts";
import { createAuthService } from "./auth.service.ts";
import { createRefreshTokensRepository } from "./refresh-tokens.repository.ts";
import { createSigningKeysRepository } from "./signing-keys.repository.ts";
import { loadSigner } from "./signing-keys.ts";

/** The auth service: accounts, sessions and the signing keys. */
export async function createAuthApp(deps: ServiceDeps): Promise<FastifyInstance> {
  const { context } = deps;
  const { config, db, logs, clock } = context;
  const { app, verifier } = createServiceApp("auth", deps, logs.auth);
  const accounts = createAccountsRepository(db);
  const signer = await loadSigner(
    createSigningKeysRepository(db),
    { issuer: config.tokens.issuer, audience: config.tokens.audience, accessTtlSeconds: config.tokens.accessTtlSeconds, masterSecret: context.masterSecret },
    (kid) => logs.security.info({ event: LogEvent.SIGNING_KEY_CREATED, kid }, "signing key created"),
  );
  const auth = createAuthService({
    db,
    accounts,
    refreshTokens: createRefreshTokensRepository(db),
    signer,
    clock,
    eventLog: logs.auth,
    refreshTtlSeconds: config.tokens.refreshTtlSeconds,
  });
  registerAuthRoutes(app, { auth, accounts, signer, verifier });
  return app;
}
