import { z } from "zod";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import type { AuditRow } from "../platform/audit/audit-chain.ts";
import { createAuditRepository } from "../platform/audit/audit.repository.ts";
import { verifyAudit } from "../platform/audit/audit.service.ts";

const verifyArgs = z.object({ json: z.boolean().default(false) });

/** `azora audit verify`: exit 0 when the chain is whole, 1 naming every row edited, inserted or deleted. */
export const auditVerifyCommand: PlatformCommand<z.input<typeof verifyArgs>> = {
  name: "audit verify",
  async run(context, rawArgs, io) {
    const parsed = verifyArgs.safeParse(rawArgs);
    if (!parsed.success) {
      io.err("Usage: azora audit verify [--json]");
      return 2;
    }
    const result = await verifyAudit(context);
    if (parsed.data.json) io.out(JSON.stringify(result));
    else if (result.ok) io.out(`Audit log intact: ${result.rows} rows${result.head ? `, head ${result.head.seq} ${result.head.hash.slice(0, 16)}…` : ""}.`);
    else {
      io.out(`Audit log TAMPERED: ${result.problems.length} problem${result.problems.length === 1 ? "" : "s"} in ${result.rows} rows.`);
      for (const problem of result.problems) io.out(`  ${problem.message}`);
    }
    return result.ok ? 0 : 1;
  },
};

const tailArgs = z.object({
  lines: z.number().int().min(1).max(10_000).default(20),
  follow: z.boolean().default(false),
  json: z.boolean().default(false),
  /** How often --follow looks for new rows. */
  pollMs: z.number().int().min(50).max(60_000).default(1_000),
});

const iso = (row: AuditRow) => new Date(Number(BigInt(row.occurredAtMicros) / 1000n)).toISOString();

function print(io: CommandIO, row: AuditRow, json: boolean): void {
  if (json) io.out(JSON.stringify({ seq: row.seq, occurredAt: iso(row), actor: row.actor, action: row.action, target: row.target, details: row.details, hash: row.hash }));
  else io.out(`${String(row.seq).padStart(6)}  ${iso(row)}  ${row.actor}  ${row.action}  ${row.target}${Object.keys(row.details).length > 0 ? `  ${JSON.stringify(row.details)}` : ""}`);
}

/**
 * `azora audit tail [-n N] [--follow] [--json]`: the newest rows, oldest first. --json without --follow prints
 * one JSON array; with --follow, one JSON object per line (a stream has no single document). --follow runs
 * until the process is stopped (Ctrl-C).
 */
export const auditTailCommand: PlatformCommand<z.input<typeof tailArgs>> = {
  name: "audit tail",
  async run(context, rawArgs, io) {
    const parsed = tailArgs.safeParse(rawArgs);
    if (!parsed.success) {
      io.err("Usage: azora audit tail [-n N] [--follow] [--json] (N is 1 to 10000)");
      return 2;
    }
    const { lines, follow, json, pollMs } = parsed.data;
    const repository = createAuditRepository(context.db);
    const rows = await repository.latest(lines);
    if (json && !follow) {
      io.out(JSON.stringify(rows.map((row) => ({ seq: row.seq, occurredAt: iso(row), actor: row.actor, action: row.action, target: row.target, details: row.details, hash: row.hash }))));
      return 0;
    }
    for (const row of rows) print(io, row, json);
    if (!follow) return 0;
    let last = rows.at(-1)?.seq ?? 0;
    while (!io.signal?.aborted) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        io.signal?.addEventListener("abort", () => (clearTimeout(timer), resolve(undefined)), { once: true });
      });
      if (io.signal?.aborted) break;
      for (const row of await repository.after(last)) {
        print(io, row, json);
        last = row.seq;
      }
    }
    return 0;
  },
};
