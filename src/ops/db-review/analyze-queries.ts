import { z } from "zod";
import type { PlatformCommand } from "../../platform/command.ts";
import { largestTables, sequentialScans, statementsAvailability, tableRows, topStatements, type SeqScan, type StatementStats } from "./statements.repository.ts";

const args = z.object({ top: z.number().int().min(1).max(100).default(10), largeRows: z.number().int().min(1).default(10_000), json: z.boolean().default(false) });

export const ENABLE_PG_STAT_STATEMENTS = [
  "pg_stat_statements is not loaded. To enable it:",
  "  1. in postgresql.conf: shared_preload_libraries = 'pg_stat_statements' (keep what is there, comma-separated)",
  "  2. restart PostgreSQL",
  "  3. in this database: CREATE EXTENSION pg_stat_statements;",
].join("\n");

/** The columns a filter compares in a sequential scan ("(author_id = $1)" → author_id). */
function filteredColumns(filter: string | undefined): string[] {
  if (!filter) return [];
  const columns = [...filter.matchAll(/\(?([a-z_][a-z0-9_]*)\)? *(?:=|<|>|<=|>=|~~|IS NULL|= ANY)/gi)].map((match) => match[1] ?? "");
  return [...new Set(columns.filter((column) => column && !/^(null|true|false|and|or)$/i.test(column)))];
}

/** A plain-language hint for a statement: a sequential scan over a large table, and the index it lacks. */
function hint(scans: SeqScan[] | undefined, rows: Map<string, number>, largeRows: number): string {
  if (scans === undefined) return "";
  const large = scans.filter((scan) => (rows.get(scan.relation) ?? 0) >= largeRows);
  return large
    .map((scan) => {
      const count = Math.round(rows.get(scan.relation) ?? 0).toLocaleString("en");
      const columns = filteredColumns(scan.filter);
      const index = columns.length > 0 ? `: no index serves the filter on ${columns.join(", ")}; consider CREATE INDEX CONCURRENTLY ON ${scan.relation} (${columns.join(", ")})` : ": it reads the whole table";
      return `sequential scan on ${scan.relation} (~${count} rows)${index}`;
    })
    .join("; ");
}

interface Finding extends StatementStats {
  hint: string;
}

/** `azora db analyze-queries`: the top statements by total time, with a hint from their plans. */
export const analyzeQueriesCommand: PlatformCommand<z.input<typeof args>> = {
  name: "db analyze-queries",
  async run(context, rawArgs, io) {
    const { top, largeRows, json } = args.parse(rawArgs);
    const { db } = context;
    if (db.kind === "pglite") {
      const tables = await largestTables(db, top);
      const note =
        "The embedded database (PGlite) has no pg_stat_statements: it cannot report statement timings, call counts or slow queries. It can report table sizes (below); on PostgreSQL, this command reports the top statements.";
      if (json) io.out(JSON.stringify({ backend: "pglite", available: false, note, statements: [], tables }));
      else {
        io.out(note);
        for (const table of tables) io.out(`  ${table.table.padEnd(32)} ${String(table.bytes).padStart(12)} bytes  ~${Math.round(table.rows)} rows`);
      }
      return 0;
    }
    const availability = await statementsAvailability(db);
    if (availability !== "available") {
      const message = availability === "not loaded" ? ENABLE_PG_STAT_STATEMENTS : "pg_stat_statements is loaded but not created in this database: run CREATE EXTENSION pg_stat_statements; (as a superuser or the database owner).";
      if (json) io.out(JSON.stringify({ backend: "postgres", available: false, reason: availability, note: message, statements: [] }));
      else io.err(message);
      return 1;
    }
    const rows = await tableRows(db);
    const findings: Finding[] = [];
    for (const statement of await topStatements(db, top)) {
      findings.push({ ...statement, hint: hint(await sequentialScans(db, statement.query), rows, largeRows) });
    }
    if (json) io.out(JSON.stringify({ backend: "postgres", available: true, statements: findings }));
    else printFindings(findings, io);
    return 0;
  },
};

function printFindings(findings: Finding[], io: { out(text: string): void }): void {
  if (findings.length === 0) io.out("pg_stat_statements has recorded no statements in this database yet.");
  findings.forEach((finding, index) => {
    const oneLine = finding.query.replace(/\s+/g, " ").slice(0, 160);
    io.out(`${index + 1}. ${finding.totalMs.toFixed(1)} ms total, ${finding.calls} calls, ${finding.meanMs.toFixed(2)} ms mean, ${finding.rows} rows`);
    io.out(`   ${oneLine}`);
    if (finding.hint) io.out(`   hint: ${finding.hint}`);
  });
}
