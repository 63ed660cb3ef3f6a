import { describe, expect, it } from "vitest";
import { canonicalJson, GENESIS_HASH, hashOf, verifyChain, type AuditRow } from "./audit-chain.ts";

function chain(count: number): AuditRow[] {
  const rows: AuditRow[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const content = { seq, occurredAtMicros: String(1_800_000_000_000_000 + seq), actor: "cli:ops", action: "user.promote", target: `user:${seq}`, details: { role: "admin", n: seq }, prevHash: rows.at(-1)?.hash ?? GENESIS_HASH };
    rows.push({ ...content, hash: hashOf(content) });
  }
  return rows;
}

describe("the audit hash chain", () => {
  it("hashes details independent of key order (jsonb does not keep it)", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
  });

  it("accepts an intact chain", () => {
    expect(verifyChain(chain(5))).toEqual([]);
    expect(verifyChain([])).toEqual([]);
  });

  it("names an edited row", () => {
    const rows = chain(5);
    rows[2] = { ...rows[2]!, target: "user:someone-else" };
    expect(verifyChain(rows)).toEqual([expect.objectContaining({ seq: 3, kind: "edited" })]);
  });

  it("names a deleted row (gap) and a deleted range", () => {
    const rows = chain(6);
    expect(verifyChain(rows.filter((row) => row.seq !== 3))).toEqual([expect.objectContaining({ seq: 3, kind: "deleted", message: expect.stringContaining("row 3 deleted") })]);
    expect(verifyChain(rows.filter((row) => row.seq !== 3 && row.seq !== 4))[0]?.message).toContain("rows 3–4 deleted");
  });

  it("names a row inserted with a correct hash of its own (the chain was renumbered after it)", () => {
    const rows = chain(4);
    const forged = { seq: 3, occurredAtMicros: "1", actor: "cli:x", action: "user.demote", target: "user:x", details: {}, prevHash: rows[1]!.hash };
    const renumbered = [rows[0]!, rows[1]!, { ...forged, hash: hashOf(forged) }, ...rows.slice(2).map((row) => ({ ...row, seq: row.seq + 1 }))];
    const problems = verifyChain(renumbered);
    // The forged row is consistent; the first original row after it no longer matches (its seq moved and its link broke).
    expect(problems[0]).toMatchObject({ seq: 4 });
  });
});
