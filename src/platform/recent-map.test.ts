import { describe, expect, it } from "vitest";
import { createRecentMap } from "./recent-map.ts";

describe("createRecentMap", () => {
  it("keeps what was used within the last generation's worth of writes and holds at most two generations", () => {
    const map = createRecentMap<string, number>(3);
    for (const [key, value] of [["a", 1], ["b", 2], ["c", 3]] as const) map.set(key, value);
    // A fourth write starts a new generation; a, b and c are still found (and a moves forward).
    map.set("d", 4);
    expect(map.get("a")).toBe(1);
    map.set("e", 5);
    // The next write drops the oldest generation (b and c were not used since), keeps a, d, e and f.
    map.set("f", 6);
    expect(map.get("b")).toBeUndefined();
    expect(map.get("c")).toBeUndefined();
    expect([map.get("a"), map.get("d"), map.get("e"), map.get("f")]).toEqual([1, 4, 5, 6]);
  });

  it("stays bounded under a stream of distinct keys", () => {
    const map = createRecentMap<number, number>(100);
    for (let key = 0; key < 10_000; key++) map.set(key, key);
    const held = Array.from({ length: 10_000 }, (_, key) => map.get(key)).filter((value) => value !== undefined);
    expect(held.length).toBeLessThanOrEqual(200);
    expect(map.get(9_999)).toBe(9_999);
  });

  it("forgets a deleted key in either generation", () => {
    const map = createRecentMap<string, number>(2);
    map.set("a", 1);
    map.set("b", 2);
    map.set("c", 3);
    map.delete("a");
    map.delete("c");
    expect([map.get("a"), map.get("b"), map.get("c")]).toEqual([undefined, 2, undefined]);
  });
});
