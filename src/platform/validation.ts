import { z } from "zod";

/** Text that PostgreSQL can store: no NUL characters (it rejects them). */
export const text = (min: number, max: number) =>
  z
    .string()
    .min(min, min === 1 ? "must not be empty" : `must be at least ${min} characters`)
    .max(max, `must be at most ${max} characters`)
    .refine((value) => !value.includes("\u0000"), "must not contain NUL characters");

export const uuid = z.uuid("must be a UUID");
