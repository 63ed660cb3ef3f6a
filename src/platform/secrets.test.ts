import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DecryptionError, decrypt, deriveKey, encrypt, loadOrCreateSecret } from "./secrets.ts";

describe("secrets", () => {
  let dir: string | undefined;
  afterEach(async () => dir && rm(dir, { recursive: true, force: true }));

  it("round-trips through AES-256-GCM and refuses the wrong key or tampered data", () => {
    const key = deriveKey("master secret one", "signing-keys");
    const sealed = encrypt(key, "private key material");
    expect(sealed).not.toContain("private key material");
    expect(decrypt(key, sealed)).toBe("private key material");
    expect(() => decrypt(deriveKey("master secret two", "signing-keys"), sealed)).toThrow(DecryptionError);
    const tampered = sealed.slice(0, -2) + (sealed.endsWith("A") ? "BB" : "AA");
    expect(() => decrypt(key, tampered)).toThrow(DecryptionError);
    expect(() => decrypt(key, "garbage")).toThrow(DecryptionError);
  });

  it("derives different keys for different purposes", () => {
    expect(deriveKey("m", "a").equals(deriveKey("m", "b"))).toBe(false);
  });

  it("generates a secret once, mode 0600, and returns the same one afterwards", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-secrets-"));
    const first = await loadOrCreateSecret(join(dir, "secrets"), "master.key", undefined);
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(join(dir, "secrets", "master.key"))).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateSecret(join(dir, "secrets"), "master.key", undefined)).toBe(first);
    expect(await loadOrCreateSecret(join(dir, "secrets"), "master.key", "configured-value")).toBe("configured-value");
  });
});
