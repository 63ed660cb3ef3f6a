import type { Db } from "../../platform/db/db.ts";
import type { Point } from "./projection.ts";

/**
 * Daily cumulative totals over the last `days` days, from creation times: the count of users and of
 * content, and the bytes of attachments. Rows erased since (GDPR) no longer count, as they no longer use space.
 */
export async function dailyTotals(db: Db, days: number, now: Date): Promise<{ users: Point[]; content: Point[]; blobBytes: Point[] }> {
  const rows = await db.query<{ day: Date | string; users: string; content: string; blob_bytes: string }>(
    `WITH days AS (
       SELECT generate_series(date_trunc('day', $1::timestamptz) - make_interval(days => $2::int - 1), date_trunc('day', $1::timestamptz), interval '1 day') AS day
     )
     SELECT d.day,
            (SELECT count(*) FROM users u WHERE u.created_at < d.day + interval '1 day') AS users,
            (SELECT count(*) FROM content c WHERE c.created_at < d.day + interval '1 day') AS content,
            (SELECT coalesce(sum(a.size_bytes), 0) FROM attachments a WHERE a.created_at < d.day + interval '1 day') AS blob_bytes
       FROM days d ORDER BY d.day`,
    [now.toISOString(), days],
  );
  const at = (row: { day: Date | string }) => new Date(row.day).getTime() + 86_400_000 - 1;
  return {
    users: rows.map((row) => ({ at: at(row), value: Number(row.users) })),
    content: rows.map((row) => ({ at: at(row), value: Number(row.content) })),
    blobBytes: rows.map((row) => ({ at: at(row), value: Number(row.blob_bytes) })),
  };
}

/** The database's size: the whole database on PostgreSQL; on PGlite, the sum of its relations. */
export async function databaseBytes(db: Db): Promise<number> {
  const sql =
    db.kind === "postgres"
      ? `SELECT pg_database_size(current_database()) AS bytes`
      : `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c WHERE c.relkind IN ('r', 'm')`;
  return Number((await db.query<{ bytes: string }>(sql))[0]?.bytes ?? 0);
}

/** Connections in use and allowed (PostgreSQL). */
export async function connections(db: Db): Promise<{ used: number; max: number } | undefined> {
  if (db.kind !== "postgres") return undefined;
  const row = (await db.query<{ used: string; max: string }>(`SELECT (SELECT count(*) FROM pg_stat_activity) AS used, current_setting('max_connections') AS max`))[0];
  return row ? { used: Number(row.used), max: Number(row.max) } : undefined;
}
