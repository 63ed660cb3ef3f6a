import type { Db, Queryable } from "../../platform/db/db.ts";
import { quoteIdent } from "../backup/postgres-tools.ts";

/** One finding of the integrity check: what is wrong and where. */
export interface IntegrityProblem {
  check: "constraint" | "index" | "orphans" | "sequence";
  object: string;
  detail: string;
}

const qualified = (name: string) => `public.${quoteIdent(name)}`;

/** Constraints added NOT VALID (or left so by a failed load): rows they never checked may break them. */
export async function invalidConstraints(db: Queryable): Promise<IntegrityProblem[]> {
  const rows = await db.query<{ table: string; name: string }>(
    `SELECT cl.relname AS table, c.conname AS name FROM pg_constraint c
       JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
      WHERE n.nspname = 'public' AND NOT c.convalidated ORDER BY 1, 2`,
  );
  return rows.map((row) => ({ check: "constraint", object: `${row.table}.${row.name}`, detail: "constraint is NOT VALID (run ALTER TABLE … VALIDATE CONSTRAINT)" }));
}

/** Indexes left invalid or not ready (a failed CREATE INDEX CONCURRENTLY, an interrupted REINDEX). */
export async function invalidIndexes(db: Queryable): Promise<IntegrityProblem[]> {
  const rows = await db.query<{ name: string }>(
    `SELECT ic.relname AS name FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
      WHERE n.nspname = 'public' AND (NOT i.indisvalid OR NOT i.indisready) ORDER BY 1`,
  );
  return rows.map((row) => ({ check: "index", object: row.name, detail: "index is invalid (REINDEX INDEX it)" }));
}

/** Rows whose foreign key points at nothing: possible when triggers were off during a load or a constraint is NOT VALID. */
export async function orphanedRows(db: Queryable): Promise<IntegrityProblem[]> {
  const keys = await db.query<{ name: string; child: string; parent: string; child_cols: string[]; parent_cols: string[] }>(
    `SELECT c.conname AS name, ch.relname AS child, pa.relname AS parent,
            array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, ord)
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord) AS child_cols,
            array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(num, ord)
                    JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.ord) AS parent_cols
       FROM pg_constraint c JOIN pg_class ch ON ch.oid = c.conrelid JOIN pg_class pa ON pa.oid = c.confrelid
       JOIN pg_namespace n ON n.oid = ch.relnamespace
      WHERE c.contype = 'f' AND n.nspname = 'public' ORDER BY 1`,
  );
  const problems: IntegrityProblem[] = [];
  for (const key of keys) {
    const notNull = key.child_cols.map((col) => `t.${quoteIdent(col)} IS NOT NULL`).join(" AND ");
    const join = key.child_cols.map((col, i) => `p.${quoteIdent(key.parent_cols[i] ?? "")} = t.${quoteIdent(col)}`).join(" AND ");
    const [row] = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${qualified(key.child)} t WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${qualified(key.parent)} p WHERE ${join})`,
    );
    const count = Number(row?.n ?? 0);
    if (count > 0) problems.push({ check: "orphans", object: `${key.child}.${key.name}`, detail: `${count} row(s) of ${key.child} point at no row of ${key.parent}` });
  }
  return problems;
}

/** Sequences behind the largest value of their column: the next insert would collide. */
export async function sequencesBehind(db: Queryable): Promise<IntegrityProblem[]> {
  const owned = await db.query<{ seq: string; tbl: string; col: string }>(
    `SELECT sc.relname AS seq, tc.relname AS tbl, a.attname AS col FROM pg_depend d
       JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S' JOIN pg_class tc ON tc.oid = d.refobjid
       JOIN pg_namespace n ON n.oid = tc.relnamespace
       JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.deptype IN ('a', 'i') AND n.nspname = 'public' ORDER BY 1`,
  );
  const problems: IntegrityProblem[] = [];
  for (const { seq, tbl, col } of owned) {
    const [row] = await db.query<{ max: string | null; last: string; called: boolean }>(
      `SELECT (SELECT max(${quoteIdent(col)})::text FROM ${qualified(tbl)}) AS max, last_value::text AS last, is_called AS called FROM ${qualified(seq)}`,
    );
    if (!row?.max) continue;
    const next = BigInt(row.last) + (row.called ? 1n : 0n);
    if (next <= BigInt(row.max)) problems.push({ check: "sequence", object: seq, detail: `next value ${next} is not above max(${tbl}.${col}) = ${row.max} (SELECT setval('${seq}', ${row.max}))` });
  }
  return problems;
}

/** Thrown to roll back the transaction amcheck was installed in: the check leaves the database as it found it. */
class LeaveUnchanged extends Error {}

/** B-tree structure checked with amcheck (PostgreSQL), installed for the check only; says why when it cannot be used. */
export async function brokenIndexes(db: Db): Promise<{ problems: IntegrityProblem[]; skipped?: string }> {
  const problems: IntegrityProblem[] = [];
  let skipped: string | undefined;
  try {
    await db.transaction(async (tx) => {
      try {
        await tx.query("SAVEPOINT amcheck");
        await tx.query("CREATE EXTENSION IF NOT EXISTS amcheck");
      } catch (error) {
        skipped = `amcheck is not available (${(error as Error).message}); index structure was not checked`;
        throw new LeaveUnchanged();
      }
      const indexes = await tx.query<{ name: string }>(
        `SELECT ic.relname AS name FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
           JOIN pg_am am ON am.oid = ic.relam JOIN pg_namespace n ON n.oid = ic.relnamespace
          WHERE n.nspname = 'public' AND am.amname = 'btree' AND i.indisvalid ORDER BY 1`,
      );
      for (const { name } of indexes) {
        await tx.query("SAVEPOINT one_index");
        try {
          await tx.query("SELECT bt_index_check($1::regclass, true)", [qualified(name)]);
          await tx.query("RELEASE SAVEPOINT one_index");
        } catch (error) {
          await tx.query("ROLLBACK TO SAVEPOINT one_index");
          problems.push({ check: "index", object: name, detail: `amcheck: ${(error as Error).message} (REINDEX INDEX it)` });
        }
      }
      throw new LeaveUnchanged();
    });
  } catch (error) {
    if (!(error instanceof LeaveUnchanged)) throw error;
  }
  return skipped ? { problems, skipped } : { problems };
}
