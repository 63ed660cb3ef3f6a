import { z } from "zod";
import { cliActor, recordAudit } from "../../platform/audit/audit.service.ts";
import type { PlatformCommand } from "../../platform/command.ts";
import { bloatEstimates, duplicateIndexes, invalidIndexNames, missingForeignKeyIndexes, reindexConcurrently, unusedIndexes, vacuumAnalyze } from "./maintenance.repository.ts";

const args = z.object({
  /** Undefined: the default of the environment (dry run on production, apply elsewhere). */
  dryRun: z.boolean().optional(),
  json: z.boolean().default(false),
});

/**
 * `azora db optimize`: VACUUM (ANALYZE), a bloat estimate, unused and duplicate indexes, foreign keys
 * without an index, and REINDEX CONCURRENTLY of invalid indexes. It never drops an index: those are
 * reported with the statement to run, because only an operator knows whether a replica or a monthly
 * job uses an index this primary has not seen used.
 */
export const optimizeCommand: PlatformCommand<z.input<typeof args>> = {
  name: "db optimize",
  async run(context, rawArgs, io) {
    const parsed = args.parse(rawArgs);
    const { db, config } = context;
    const dryRun = parsed.dryRun ?? config.environment === "production";
    const postgres = db.kind === "postgres";
    const findings = {
      bloat: await bloatEstimates(db),
      unusedIndexes: await unusedIndexes(db),
      duplicateIndexes: await duplicateIndexes(db),
      missingForeignKeyIndexes: await missingForeignKeyIndexes(db),
      invalidIndexes: await invalidIndexNames(db),
    };
    const actions: { action: string; status: "done" | "planned" | "failed" | "skipped"; detail?: string }[] = [];
    const act = async (action: string, run: () => Promise<void>, skip?: string) => {
      if (skip) return void actions.push({ action, status: "skipped", detail: skip });
      if (dryRun) return void actions.push({ action, status: "planned" });
      try {
        await run();
        actions.push({ action, status: "done" });
      } catch (error) {
        actions.push({ action, status: "failed", detail: (error as Error).message });
      }
    };
    await act("VACUUM (ANALYZE)", () => vacuumAnalyze(db));
    for (const index of findings.invalidIndexes) {
      await act(`REINDEX INDEX CONCURRENTLY ${index}`, () => reindexConcurrently(db, index), postgres ? undefined : "REINDEX CONCURRENTLY needs PostgreSQL");
    }
    if (!dryRun) {
      await recordAudit(context, { actor: io.actor ?? cliActor(), action: "db.optimize", target: "database", details: { actions: actions.map(({ action, status }) => ({ action, status })) } });
    }
    const failed = actions.some((entry) => entry.status === "failed");
    if (parsed.json) io.out(JSON.stringify({ backend: db.kind, environment: config.environment, dryRun, findings, actions }));
    else {
      io.out(dryRun ? `Dry run${parsed.dryRun === undefined ? " (the default on production; --apply to change things)" : ""}: nothing is changed.` : "Optimizing.");
      for (const table of findings.bloat) {
        io.out(`bloat    ${table.table}: ${table.deadRows} dead of ${table.liveRows + table.deadRows} rows, ~${table.estimatedBloatBytes} of ${table.bytes} bytes reusable after VACUUM`);
      }
      for (const index of findings.unusedIndexes) io.out(`unused   ${index.index} on ${index.table} (${index.bytes} bytes): ${index.detail}`);
      for (const index of findings.duplicateIndexes) io.out(`duplicate ${index.index} on ${index.table}: ${index.detail}`);
      for (const key of findings.missingForeignKeyIndexes) io.out(`fk-index ${key.table}.${key.constraint} (${key.columns.join(", ")}) has no index: ${key.suggestion}`);
      for (const index of findings.invalidIndexes) io.out(`invalid  ${index}: rebuilt with REINDEX INDEX CONCURRENTLY`);
      for (const entry of actions) io.out(`${entry.status.padEnd(8)} ${entry.action}${entry.detail ? `: ${entry.detail}` : ""}`);
    }
    return failed ? 1 : 0;
  },
};
