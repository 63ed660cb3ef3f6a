import { createHash } from "node:crypto";

/** The hash a first row points back to: there is nothing before it. */
export const GENESIS_HASH = "0".repeat(64);

/** One audit row as it is hashed: occurredAt in microseconds since the epoch, as the database keeps it. */
export interface AuditRow {
  seq: number;
  occurredAtMicros: string;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** JSON with object keys sorted at every level: jsonb does not keep the order a row was written in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** SHA-256 over every column but the hash itself, the previous row's hash included. */
export function hashOf(row: Omit<AuditRow, "hash">): string {
  const material = canonicalJson([row.seq, row.occurredAtMicros, row.actor, row.action, row.target, row.details, row.prevHash]);
  return createHash("sha256").update(material).digest("hex");
}

export type ChainProblem =
  | { seq: number; kind: "edited"; message: string }
  | { seq: number; kind: "inserted"; message: string }
  | { seq: number; kind: "deleted"; message: string };

/**
 * Walks rows in seq order. A row whose hash does not match its content was edited; a row whose prev_hash
 * does not match the row before was inserted, or the row before it was deleted; a gap in seq is a deletion.
 * The rows must come from one read, so a concurrent append cannot look like a gap.
 */
export function verifyChain(rows: AuditRow[]): ChainProblem[] {
  const problems: ChainProblem[] = [];
  let expectedSeq = 1;
  let previousHash = GENESIS_HASH;
  for (const row of rows) {
    if (row.seq > expectedSeq) {
      const range = row.seq - 1 === expectedSeq ? `row ${expectedSeq}` : `rows ${expectedSeq}–${row.seq - 1}`;
      problems.push({ seq: expectedSeq, kind: "deleted", message: `${range} deleted (seq jumps from ${expectedSeq - 1} to ${row.seq})` });
    } else if (row.seq < expectedSeq) {
      problems.push({ seq: row.seq, kind: "inserted", message: `row ${row.seq} inserted (seq repeats or goes back after ${expectedSeq - 1})` });
    }
    const { hash, ...content } = row;
    if (hashOf(content) !== hash) {
      problems.push({ seq: row.seq, kind: "edited", message: `row ${row.seq} edited (its hash does not match its content)` });
    } else if (row.prevHash !== previousHash && row.seq === expectedSeq) {
      problems.push({ seq: row.seq, kind: "inserted", message: `row ${row.seq} does not follow row ${row.seq - 1} (prev_hash differs): inserted, or the row before it replaced` });
    }
    expectedSeq = Math.max(expectedSeq, row.seq + 1);
    previousHash = hash;
  }
  return problems;
}
