import { describe, expect, it } from "vitest";
import { checkNewPassword, commonPasswordCount, normalisePassword } from "./password-policy.ts";

describe("password policy", () => {
  it("ships at least 10,000 common passwords and refuses them in any letter case", () => {
    expect(commonPasswordCount()).toBeGreaterThanOrEqual(10_000);
    expect(checkNewPassword("password")).toMatchObject({ ok: false, reason: "common" });
    expect(checkNewPassword("PassWord")).toMatchObject({ ok: false, reason: "common" });
    expect(checkNewPassword("baseball")).toMatchObject({ ok: false, reason: "common" });
  });

  it("counts length in characters after NFKC: 8..128, no composition rules, 15 recommended", () => {
    expect(checkNewPassword("abcdefg")).toMatchObject({ ok: false, reason: "too_short", message: expect.stringContaining("15") });
    expect(checkNewPassword("zq".repeat(64))).toMatchObject({ ok: true });
    expect(checkNewPassword("zq".repeat(64) + "x")).toMatchObject({ ok: false, reason: "too_long" });
    expect(checkNewPassword("ñandú-gecko")).toMatchObject({ ok: true });
    // Eight emoji are eight characters, though sixteen UTF-16 units.
    expect(checkNewPassword("🦊🦊🦊🦊🦊🦊🦊🦊")).toMatchObject({ ok: true });
    expect(checkNewPassword("🦊🦊🦊🦊🦊🦊🦊")).toMatchObject({ ok: false, reason: "too_short" });
  });

  it("applies the security policy's password.minLength, never below 8 nor above 128", () => {
    expect(checkNewPassword("ñandú-gecko", 12)).toMatchObject({ ok: false, reason: "too_short", message: expect.stringContaining("at least 12") });
    expect(checkNewPassword("ñandú-gecko-x", 12)).toMatchObject({ ok: true });
    expect(checkNewPassword("abcdefghijklmnopq", 20)).toMatchObject({ ok: false, message: "must be at least 20 characters" });
    expect(checkNewPassword("abcdefg", 4)).toMatchObject({ ok: false, reason: "too_short", message: expect.stringContaining("at least 8") });
    expect(checkNewPassword("zq".repeat(64), 500)).toMatchObject({ ok: true });
  });

  it("normalises with NFKC: composed, decomposed and full-width forms are one password", () => {
    const composed = "caf\u00e9-au-lait";
    const decomposed = "cafe\u0301-au-lait";
    expect(normalisePassword(composed)).toBe(normalisePassword(decomposed));
    expect(normalisePassword("ｐａｓｓ１２３４")).toBe("pass1234");
  });

  it("refuses unpaired surrogates and control characters", () => {
    for (const bad of ["abc\ud800defgh", "abc\udc00defgh", "abcdefgh\ud83d", "abc\u0000defgh", "abc\ndefgh", "abc\u007fdefgh", "abc\u0085defgh"]) {
      expect(normalisePassword(bad)).toBeUndefined();
      expect(checkNewPassword(bad)).toMatchObject({ ok: false, reason: "invalid_characters" });
    }
  });
});
