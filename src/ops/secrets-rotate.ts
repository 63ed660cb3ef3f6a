import { randomBytes } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { PlatformCommand } from "../platform/command.ts";
import { cliActor, recordAudit } from "../platform/audit/audit.service.ts";
import { LogEvent } from "../platform/log-events.ts";
import { createSigningKeysRepository } from "../services/auth/signing-keys.repository.ts";
import { SIGNER_RELOAD_MS, newSigningKey } from "../services/auth/signing-keys.ts";

const args = z.object({ dryRun: z.boolean().default(false), json: z.boolean().default(false) });
export type SecretsRotateArgs = z.input<typeof args>;

/** Replaces the generated ops token atomically (0600): a reader sees the old file or the new one, never half of one. */
async function writeOpsToken(secretsDir: string): Promise<void> {
  await mkdir(secretsDir, { recursive: true, mode: 0o700 });
  const file = join(secretsDir, "ops-token");
  const next = `${file}.next`;
  await writeFile(next, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600 });
  await rename(next, file);
}

/**
 * `azora secrets rotate`: a new signing key is published in the JWKS at once, signs only once every verifier's
 * JWKS cache can have seen it (the signers' reread interval, JWKS_CACHE_SECONDS and the clock skew), and the keys before it are retired once
 * the longest access token they signed has expired; the generated ops token is replaced (running processes
 * follow its file within a second). The stages are times in the signing_keys table: nothing has to keep running.
 */
export const secretsRotateCommand: PlatformCommand<SecretsRotateArgs> = {
  name: "secrets-rotate",
  async run(context, rawArgs, io) {
    const parsed = args.safeParse(rawArgs);
    if (!parsed.success) {
      io.err("Usage: azora secrets rotate [--dry-run] [--json]");
      return 2;
    }
    const { dryRun, json } = parsed.data;
    const { tokens, ops, paths } = context.config;
    const now = context.clock.now();
    // Every auth process publishes the key within one reread of the table, then every verifier's cache
    // (JWKS_CACHE_SECONDS) has had it, with the clock skew on top: only then may a token carry its kid.
    const signsFrom = new Date(now + SIGNER_RELOAD_MS + (tokens.jwksCacheSeconds + tokens.clockSkewSeconds) * 1000);
    // The longest-lived token the old key signs is issued just before signsFrom.
    const retireAt = new Date(signsFrom.getTime() + (tokens.accessTtlSeconds + tokens.clockSkewSeconds) * 1000);
    const repository = createSigningKeysRepository(context.db);
    const before = await repository.listActive(new Date(now));
    const opsToken = ops.token ? "set by AZORA_OPS_TOKEN: rotate it where it is set, then restart the processes" : "rotated";

    let kid = "(new)";
    let retired: string[] = before.filter((key) => key.retiredAt === null).map((key) => key.kid);
    if (!dryRun) {
      const key = await newSigningKey(context.masterSecret);
      kid = key.kid;
      retired = await context.db.transaction(async (tx) => {
        const store = createSigningKeysRepository(tx);
        await store.insert({ ...key, signsFrom });
        return store.retireOthers(key.kid, retireAt);
      });
      const actor = io.actor ?? cliActor();
      context.logs.security.warn({ event: LogEvent.SECRET_ROTATED, rotated: "signing-key", kid, signsFrom: signsFrom.toISOString(), retiring: retired, retireAt: retireAt.toISOString(), actor }, "signing key rotated");
      if (!ops.token) {
        await writeOpsToken(paths.secrets);
        context.logs.security.warn({ event: LogEvent.SECRET_ROTATED, rotated: "ops-token", actor }, "ops token rotated");
      }
      await recordAudit(context, {
        actor,
        action: "secrets.rotate",
        target: "secrets",
        details: { kid, signsFrom: signsFrom.toISOString(), retiring: retired, retireAt: retireAt.toISOString(), opsCredentialRotated: !ops.token },
      });
    }
    const result = { dryRun, signingKey: { kid, publishedAt: new Date(now).toISOString(), signsFrom: signsFrom.toISOString() }, retiring: retired.map((id) => ({ kid: id, retireAt: retireAt.toISOString() })), opsToken };
    if (json) io.out(JSON.stringify(result));
    else {
      io.out(`${dryRun ? "Dry run: would publish" : "Published"} a new signing key${dryRun ? "" : ` ${kid}`}; it signs from ${signsFrom.toISOString()} (after every JWKS cache has seen it).`);
      io.out(`${retired.length} older key(s) ${dryRun ? "would stay" : "stay"} published until ${retireAt.toISOString()} (the longest access token has expired), then retire.`);
      io.out(`Ops token: ${dryRun && !ops.token ? "would be rotated" : opsToken}${!ops.token && !dryRun ? " (running processes accept the new one within a second; read it from DATA_DIR/secrets/ops-token)" : ""}.`);
      if (dryRun) io.out("Nothing was changed.");
    }
    return 0;
  },
};
