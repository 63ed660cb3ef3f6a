import { describe, expect, it } from "vitest";
import { subjectHashOf } from "../gdpr/subject.ts";
import { legacyUserKeyAliases, userCacheKey } from "./users.service.ts";

describe("profile cache keys", () => {
  const id = "3f2c8a4e-9b1d-4c6e-8f00-1a2b3c4d5e6f";

  it("name the deletion ledger's subject hash, never the id (the invalidation log and Redis hold no identifier)", () => {
    expect(userCacheKey(id)).toBe(`user:${subjectHashOf(id)}`);
    expect(userCacheKey(id)).not.toContain(id);
    expect(userCacheKey(id.toUpperCase())).toBe(userCacheKey(id));
  });

  it("stay the subject hash's key when remembered, for ids read again and after the memory started over", () => {
    const ids = Array.from({ length: 10_050 }, (_, index) => `3f2c8a4e-9b1d-4c6e-8f00-${index.toString(16).padStart(12, "0")}`);
    for (const round of [0, 1]) {
      for (const other of ids) expect(userCacheKey(other), `round ${round}`).toBe(`user:${subjectHashOf(other)}`);
    }
    expect(userCacheKey(id.toUpperCase())).toBe(`user:${subjectHashOf(id)}`);
  });

  it("map a key of the versions that named the id to today's key, and nothing else", () => {
    expect(legacyUserKeyAliases(`user:${id}`)).toEqual([userCacheKey(id)]);
    expect(legacyUserKeyAliases(userCacheKey(id))).toEqual([]);
    expect(legacyUserKeyAliases(`token-standing:${id}`)).toEqual([]);
  });
});
