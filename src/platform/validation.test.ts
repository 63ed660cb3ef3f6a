import { describe, expect, it } from "vitest";
import { personName, text } from "./validation.ts";

// The API's length limits are the database's CHECK constraints (char_length, in code points): a
// character outside the Basic Multilingual Plane (an emoji) counts once in both layers.
describe("text length limits", () => {
  const emoji = "\u{1F600}";

  it("counts an emoji as one character, as the database does", () => {
    expect(text(1, 200).safeParse(emoji.repeat(200)).success).toBe(true);
    const over = text(1, 200).safeParse(emoji.repeat(201));
    expect(over.success).toBe(false);
    expect(over.error?.issues[0]?.message).toBe("must be at most 200 characters");
    expect(personName.safeParse(emoji.repeat(100)).success).toBe(true);
    expect(personName.safeParse(emoji.repeat(101)).success).toBe(false);
  });

  it("keeps the plain limits and messages", () => {
    expect(text(1, 5).safeParse("").error?.issues[0]?.message).toBe("must not be empty");
    expect(text(3, 5).safeParse("ab").error?.issues[0]?.message).toBe("must be at least 3 characters");
    expect(text(1, 5).safeParse("abcdef").error?.issues[0]?.message).toBe("must be at most 5 characters");
    expect(text(0, 5).safeParse("").success).toBe(true);
    expect(text(1, 5).safeParse("\u{1F600}\uD800").success).toBe(false);
  });
});
