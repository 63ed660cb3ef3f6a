import { userInfo } from "node:os";
import type { PlatformContext } from "../context.ts";
import { LogEvent } from "../log-events.ts";
import { maskEmailsIn } from "../logger.ts";
import { readAnchor, writeAnchor } from "./audit-anchor.ts";
import { verifyChain, type AuditRow, type ChainProblem } from "./audit-chain.ts";
import { createAuditRepository } from "./audit.repository.ts";

/** What an admin action reports: ids and fixed words only, never an email, a password, a token or a secret. */
export interface AuditEntry {
  /** Who: `cli:<os user>`, `ops-port`, `user:<id>`, `system`. */
  actor: string;
  /** What, as a dotted verb: `user.promote`, `maintenance.on`, `backup.restore`, `gdpr.erase`. */
  action: string;
  /** On whom or what: `user:<id>`, `maintenance`, `database`. */
  target: string;
  details?: Record<string, unknown>;
}

type AuditContext = Pick<PlatformContext, "db" | "clock" | "logs" | "config">;

// Keys that would put a secret or a clear identity into a row that can never be changed again.
const forbiddenKey = /pass|token|secret|key|email|mail/i;

function assertNoSecrets(details: Record<string, unknown>, path = "details"): void {
  for (const [key, value] of Object.entries(details)) {
    if (forbiddenKey.test(key)) throw new Error(`audit ${path}.${key}: secrets and emails never go into the audit log`);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) assertNoSecrets(value as Record<string, unknown>, `${path}.${key}`);
  }
}

/**
 * Free text an operator typed (a `--reason`, a deploy's failure message) may still name someone: every email
 * address in a string value is masked as in the logs, since a row of the chain can never be erased.
 */
function maskEmailsDeep(value: unknown): unknown {
  if (typeof value === "string") return maskEmailsIn(value);
  if (Array.isArray(value)) return value.map(maskEmailsDeep);
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, maskEmailsDeep(inner)]));
  }
  return value;
}

/** The actor of a command run from a terminal on this machine. */
export function cliActor(): string {
  let name = "unknown";
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry (a container with an arbitrary uid): the uid alone still tells operators apart.
    name = String(process.getuid?.() ?? "unknown");
  }
  // The same shape the ops port accepts when a command is relayed to the process that owns the data.
  return `cli:${name.replace(/[^\w.@-]/g, "_").slice(0, 64) || "unknown"}`;
}

/** Appends one hash-chained row to audit_log, moves the local anchor, and logs AUDIT_RECORDED with the new head. */
export async function recordAudit(context: AuditContext, entry: AuditEntry): Promise<AuditRow> {
  assertNoSecrets(entry.details ?? {});
  const details = maskEmailsDeep(entry.details ?? {}) as Record<string, unknown>;
  const row = await createAuditRepository(context.db).append({ occurredAt: new Date(context.clock.now()), actor: entry.actor, action: entry.action, target: entry.target, details });
  await writeAnchor(context.config.paths.state, { seq: row.seq, hash: row.hash });
  context.logs.security.info({ event: LogEvent.AUDIT_RECORDED, seq: row.seq, hash: row.hash, action: row.action, actor: row.actor, target: row.target }, "audit entry recorded");
  return row;
}

export interface AuditVerification {
  ok: boolean;
  rows: number;
  head?: { seq: number; hash: string };
  problems: ChainProblem[];
}

/** Checks every row's hash and link, and that the newest row this installation wrote is still there unchanged. */
export async function verifyAudit(context: AuditContext): Promise<AuditVerification> {
  const rows = await createAuditRepository(context.db).all();
  const problems = verifyChain(rows);
  const anchor = await readAnchor(context.config.paths.state);
  if (anchor && anchor.seq > 0) {
    const anchored = rows.find((row) => row.seq === anchor.seq);
    const last = rows.at(-1);
    if (!anchored) {
      const range = (last?.seq ?? 0) + 1 === anchor.seq ? `row ${anchor.seq}` : `rows ${(last?.seq ?? 0) + 1}–${anchor.seq}`;
      problems.push({ seq: anchor.seq, kind: "deleted", message: `${range} deleted (this installation wrote up to row ${anchor.seq}; the table ends at ${last?.seq ?? 0})` });
    } else if (anchored.hash !== anchor.hash) {
      problems.push({ seq: anchor.seq, kind: "edited", message: `row ${anchor.seq} replaced (its hash differs from the one this installation recorded)` });
    }
  }
  const last = rows.at(-1);
  return { ok: problems.length === 0, rows: rows.length, head: last ? { seq: last.seq, hash: last.hash } : undefined, problems };
}

/** After a restore the table is the backup's: the anchor follows it, and the restore's own row is appended next. */
export async function resetAnchor(context: AuditContext): Promise<void> {
  const [last] = await createAuditRepository(context.db).latest(1);
  await writeAnchor(context.config.paths.state, { seq: last?.seq ?? 0, hash: last?.hash ?? "" }, true);
}
