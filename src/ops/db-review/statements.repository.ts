import type { Db } from "../../platform/db/db.ts";

/** One normalised statement from pg_stat_statements. */
export interface StatementStats {
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  rows: number;
}

/** Whether pg_stat_statements can be read here, and if not, why (loaded but not created, or not loaded). */
export async function statementsAvailability(db: Db): Promise<"available" | "not created" | "not loaded"> {
  const preload = (await db.query<{ value: string }>(`SELECT current_setting('shared_preload_libraries') AS value`))[0]?.value ?? "";
  const loaded = preload.split(",").map((entry) => entry.trim().replace(/"/g, "")).includes("pg_stat_statements");
  const created = (await db.query(`SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'`)).length > 0;
  if (!loaded) return "not loaded";
  return created ? "available" : "not created";
}

/** The top statements of this database by total execution time (utility statements excluded). */
export async function topStatements(db: Db, limit: number): Promise<StatementStats[]> {
  const rows = await db.query<{ query: string; calls: string; total: number; mean: number; rows: string }>(
    `SELECT s.query, s.calls, s.total_exec_time AS total, s.mean_exec_time AS mean, s.rows
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = current_database() AND s.query ~* '^\\s*(select|with|update|delete|insert)'
        AND s.query !~* 'pg_stat_statements|pg_catalog\\.|information_schema\\.'
      ORDER BY s.total_exec_time DESC LIMIT $1`,
    [limit],
  );
  return rows.map((row) => ({ query: row.query, calls: Number(row.calls), totalMs: Number(row.total), meanMs: Number(row.mean), rows: Number(row.rows) }));
}

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  Filter?: string;
  Plans?: PlanNode[];
}

/** Sequential scans in a statement's generic plan: the relation and the filter it applied, if any. */
export interface SeqScan {
  relation: string;
  filter: string | undefined;
}

/**
 * EXPLAIN of a normalised statement ($1… placeholders): PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN),
 * so the statement is prepared and explained with NULL parameters under force_generic_plan, which
 * plans it without looking at them. Nothing is executed. Undefined when it cannot be prepared.
 */
export async function sequentialScans(db: Db, query: string): Promise<SeqScan[] | undefined> {
  const parameters = Math.max(0, ...[...query.matchAll(/\$(\d+)/g)].map((match) => Number(match[1])));
  try {
    return await db.transaction(async (tx) => {
      await tx.query(`SET LOCAL plan_cache_mode = force_generic_plan`);
      await tx.query(`PREPARE azora_analyze AS ${query}`);
      const args = parameters > 0 ? `(${Array.from({ length: parameters }, () => "NULL").join(", ")})` : "";
      const plan = await tx.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) EXECUTE azora_analyze${args}`);
      await tx.query(`DEALLOCATE azora_analyze`);
      const scans: SeqScan[] = [];
      const walk = (node: PlanNode) => {
        if (node["Node Type"] === "Seq Scan" && node["Relation Name"]) scans.push({ relation: node["Relation Name"], filter: node.Filter });
        node.Plans?.forEach(walk);
      };
      const root = plan[0]?.["QUERY PLAN"][0]?.Plan;
      if (root) walk(root);
      return scans;
    });
  } catch {
    return undefined;
  }
}

/** Estimated rows of each table in the public schema (planner statistics, cheap). */
export async function tableRows(db: Db): Promise<Map<string, number>> {
  const rows = await db.query<{ name: string; rows: number }>(
    `SELECT c.relname AS name, greatest(c.reltuples, 0)::float8 AS rows FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`,
  );
  return new Map(rows.map((row) => [row.name, Number(row.rows)]));
}

/** Sizes of the largest tables, for what the embedded engine can report. */
export async function largestTables(db: Db, limit: number): Promise<{ table: string; bytes: number; rows: number }[]> {
  const rows = await db.query<{ table: string; bytes: string; rows: number }>(
    `SELECT c.relname AS table, pg_total_relation_size(c.oid) AS bytes, greatest(c.reltuples, 0)::float8 AS rows FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'
      ORDER BY pg_total_relation_size(c.oid) DESC LIMIT $1`,
    [limit],
  );
  return rows.map((row) => ({ table: row.table, bytes: Number(row.bytes), rows: Number(row.rows) }));
}
