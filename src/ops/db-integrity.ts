import { z } from "zod";
import type { PlatformCommand } from "../platform/command.ts";
import { brokenIndexes, invalidConstraints, invalidIndexes, orphanedRows, sequencesBehind, type IntegrityProblem } from "./integrity/integrity.repository.ts";

const args = z.object({ json: z.boolean().default(false) });

/** `azora db integrity-check`: orphaned rows, invalid constraints, broken indexes, sequences; exit 1 with a list when any. */
export const integrityCheckCommand: PlatformCommand<z.input<typeof args>> = {
  name: "db integrity-check",
  async run(context, rawArgs, io) {
    const { json } = args.parse(rawArgs);
    const { db } = context;
    const problems: IntegrityProblem[] = [
      ...(await invalidConstraints(db)),
      ...(await invalidIndexes(db)),
      ...(await orphanedRows(db)),
      ...(await sequencesBehind(db)),
    ];
    // amcheck ships with PostgreSQL; the embedded engine is not built with it.
    const amcheck = db.kind === "postgres" ? await brokenIndexes(db) : { problems: [], skipped: "index structure is checked with amcheck on PostgreSQL only" };
    problems.push(...amcheck.problems);
    if (json) io.out(JSON.stringify({ ok: problems.length === 0, problems, notes: amcheck.skipped ? [amcheck.skipped] : [] }));
    else {
      for (const problem of problems) io.err(`${problem.check.toUpperCase().padEnd(10)} ${problem.object}: ${problem.detail}`);
      if (amcheck.skipped) io.out(`Note: ${amcheck.skipped}.`);
      io.out(problems.length === 0 ? "Integrity check passed: no orphaned rows, invalid constraints, broken indexes or sequence problems." : `Integrity check found ${problems.length} problem(s).`);
    }
    return problems.length === 0 ? 0 : 1;
  },
};
