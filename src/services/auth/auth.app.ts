import { logAccountKeyer } from "../../platform/log-account-key.ts";
import { deriveKey } from "../../platform/secrets.ts";
import { LogEvent } from "../../platform/log-events.ts";
import type { FastifyInstance } from "../../platform/http.ts";
import { createServiceApp, serviceBasics, type ServiceDeps, type ServiceRoutes } from "../../platform/service-app.ts";
import { createAccountsRepository } from "./accounts.repository.ts";
import { registerAuthRoutes } from "./auth.routes.ts";
import { createAuthService } from "./auth.service.ts";
import { openMailer } from "../../platform/mailer.ts";
import { createMailOutbox, DELIVERY_OUTCOMES } from "./mail-outbox.ts";
import { OUTBOX_KINDS } from "./mail-outbox.repository.ts";
import { createPasswordResetService } from "./password-reset.service.ts";
import { createRefreshTokensRepository } from "./refresh-tokens.repository.ts";
import { createSigningKeysRepository } from "./signing-keys.repository.ts";
import { loadSigner } from "./signing-keys.ts";
import { shippedPolicy } from "../security/policy.ts";

/** The auth service on its own listener. */
export async function createAuthApp(deps: ServiceDeps): Promise<FastifyInstance> {
  return createServiceApp(await createAuthRoutes(deps), deps);
}

/** The auth service: accounts, sessions and the signing keys. */
export async function createAuthRoutes(deps: ServiceDeps): Promise<ServiceRoutes> {
  const { context } = deps;
  const { config, db, logs, clock } = context;
  const basics = serviceBasics("auth", deps, logs.auth);
  const accounts = createAccountsRepository(db);
  const signer = await loadSigner(
    createSigningKeysRepository(db),
    { issuer: config.tokens.issuer, audience: config.tokens.audience, accessTtlSeconds: config.tokens.accessTtlSeconds, masterSecret: context.masterSecret, clock },
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
    refreshReuseGraceSeconds: config.tokens.refreshReuseGraceSeconds,
    successorKey: deriveKey(context.masterSecret, "refresh-successor"),
    guard: deps.passwordGuard,
    onLoginFailed: (reason) => deps.metrics.loginFailures.inc({ service: "auth", reason }),
    accountKey: logAccountKeyer(context.masterSecret),
  });
  const mailer = openMailer(config.mail);
  // Every kind and outcome starts at 0, so increase() sees the first given-up mail instead of a new series.
  for (const kind of OUTBOX_KINDS) for (const outcome of DELIVERY_OUTCOMES) deps.metrics.mailDeliveries.inc({ kind, outcome }, 0);
  const outbox = createMailOutbox({
    db,
    clock,
    accounts,
    mailer,
    mail: config.mail,
    pollMs: config.mail.outboxPollMs,
    eventLog: logs.auth,
    onDelivery: (kind, outcome) => deps.metrics.mailDeliveries.inc({ kind, outcome }),
  });
  const passwords = createPasswordResetService({ db, cache: context.cache, clock, accounts, guard: deps.passwordGuard, outbox, eventLog: logs.auth });
  // Retries, and mails a stopped process left in the outbox.
  outbox.start();
  // Forgot requests already accepted (202) reach the outbox, and a delivery under way ends, before the process
  // stops; what is still unsent stays in the outbox for the next start. The routes may be registered on two apps
  // (the service's listener and, in `azora up`, the gateway's): whichever closes first waits, once.
  let closing: Promise<void> | undefined;
  const finishMail = () =>
    (closing ??= (async () => {
      await passwords.idle();
      await outbox.deliver();
      await outbox.stop();
      mailer.close();
    })());
  return {
    ...basics,
    register: (app) => {
      app.addHook("onClose", finishMail);
      registerAuthRoutes(app, {
        auth,
        accounts,
        signer,
        verifier: basics.verifier,
        passwords,
        jwksMaxAgeSeconds: Math.min(300, config.tokens.jwksCacheSeconds),
        // Read per request: `azora security policies update` changes it without a restart.
        passwordMinLength: () => (deps.securityPolicy?.current() ?? shippedPolicy()).password.minLength,
      });
    },
  };
}
