import { z } from "zod";

/** A UTF-16 surrogate without its pair: UTF-8 cannot encode it, so it would be stored as U+FFFD. */
const loneSurrogate = /\p{Cs}/u;

/**
 * Text that PostgreSQL stores exactly as sent: no NUL characters (it rejects them), no lone
 * surrogates (they would come back changed), and no leading U+FEFF (PGlite decodes each value it
 * reads as a new UTF-8 stream and drops a leading byte order mark).
 */
export const text = (min: number, max: number) =>
  z
    .string()
    .min(min, min === 1 ? "must not be empty" : `must be at least ${min} characters`)
    .max(max, `must be at most ${max} characters`)
    .refine((value) => !value.includes("\u0000"), "must not contain NUL characters")
    .refine((value) => !loneSurrogate.test(value), "must not contain unpaired surrogates")
    .refine((value) => !value.startsWith("\uFEFF"), "must not start with U+FEFF (a byte order mark)");

/**
 * A person's display name, the same at registration and on every change: trimmed of surrounding white
 * space, then 1–100 characters, at least one of them visible (not only zero-width or other format
 * characters, which trim() leaves in place).
 */
export const personName = z
  .string()
  .trim()
  .pipe(text(1, 100))
  .refine((value) => /[^\p{White_Space}\p{Cf}]/u.test(value), "must contain a visible character");

/**
 * A whole number given as text (a query parameter, an environment variable), in plain decimal digits:
 * "0x10", "1e1", " 5" and "+5" are refused (Number() would read them as 16, 10 and 5), so that a typo
 * is an error and not another value.
 */
export const decimalInteger = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d{1,15}$/, "must be a whole number written in decimal digits")
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .default(fallback);

/** Lower case, as PostgreSQL prints ids: ids are compared and used in cache keys as text. */
export const uuid = z.uuid("must be a UUID").toLowerCase();
