import { readFileSync } from "node:fs";

/**
 * The password policy of NIST SP 800-63B (and ASVS 5.0 V6): length only (8..128 code points, 15 recommended),
 * no composition rules, a list of the most common passwords refused, and NFKC normalisation so that every
 * way of typing one password (composed or decomposed accents, full-width digits) is the same password.
 * Register, change, reset and login all go through here.
 */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;
export const PASSWORD_RECOMMENDED_LENGTH = 15;

export type PasswordProblem = "too_short" | "too_long" | "common" | "invalid_characters";
export type NewPasswordCheck = { ok: true; password: string } | { ok: false; reason: PasswordProblem; message: string };

// Control characters (C0, DEL, C1) cannot be typed on purpose and read differently across systems.
const controlCharacter = /\p{Cc}/u;
// With the u flag a surrogate range matches only surrogates that are not part of a pair.
const loneSurrogate = /[\uD800-\uDFFF]/u;

let commonPasswords: Set<string> | undefined;
/** The shipped list (see tools/generate-common-passwords.mjs for where it comes from), read once on first use. */
function common(): Set<string> {
  commonPasswords ??= new Set(
    readFileSync(new URL("./common-passwords.txt", import.meta.url), "utf8")
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("#")),
  );
  return commonPasswords;
}

/**
 * The one stored form of a password: NFKC. Undefined when the text holds an unpaired surrogate or a control
 * character (lone surrogates would otherwise all turn into U+FFFD and match one another).
 */
export function normalisePassword(raw: string): string | undefined {
  if (loneSurrogate.test(raw) || controlCharacter.test(raw)) return undefined;
  return raw.normalize("NFKC");
}

/**
 * Checks a password chosen at register, change or reset; the normalised form is what gets hashed. `minLength`
 * is the security policy's `password.minLength`; it never goes below 8 or above the maximum.
 */
export function checkNewPassword(raw: string, minLength = PASSWORD_MIN_LENGTH): NewPasswordCheck {
  const shortest = Math.min(Math.max(Math.trunc(minLength) || PASSWORD_MIN_LENGTH, PASSWORD_MIN_LENGTH), PASSWORD_MAX_LENGTH);
  const password = normalisePassword(raw);
  if (password === undefined) {
    return { ok: false, reason: "invalid_characters", message: "must not contain control characters or unpaired surrogates" };
  }
  const length = [...password].length;
  if (length < shortest) {
    const advice = shortest < PASSWORD_RECOMMENDED_LENGTH ? ` (${PASSWORD_RECOMMENDED_LENGTH} or more recommended)` : "";
    return { ok: false, reason: "too_short", message: `must be at least ${shortest} characters${advice}` };
  }
  if (length > PASSWORD_MAX_LENGTH) return { ok: false, reason: "too_long", message: `must be at most ${PASSWORD_MAX_LENGTH} characters` };
  if (common().has(password.toLowerCase())) {
    return { ok: false, reason: "common", message: `is one of the most common passwords; choose another (${PASSWORD_RECOMMENDED_LENGTH} or more characters recommended)` };
  }
  return { ok: true, password };
}

/** How many passwords the shipped list holds (for tests and docs). */
export function commonPasswordCount(): number {
  return common().size;
}
