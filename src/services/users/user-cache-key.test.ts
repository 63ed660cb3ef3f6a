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

  it("map a key of the versions that named the id to today's key, and nothing else", () => {
    expect(legacyUserKeyAliases(`user:${id}`)).toEqual([userCacheKey(id)]);
    expect(legacyUserKeyAliases(userCacheKey(id))).toEqual([]);
    expect(legacyUserKeyAliases(`token-standing:${id}`)).toEqual([]);
  });
});
