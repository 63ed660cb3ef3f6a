import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Returns the configured secret, or the one kept in `dir/name` (created 0600 on first use). */
export async function loadOrCreateSecret(dir: string, name: string, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  const file = join(dir, name);
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString("base64url");
  try {
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
    return secret;
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return (await readFile(file, "utf8")).trim();
    throw error;
  }
}

/** A 256-bit key derived from the master secret. */
export function deriveKey(masterSecret: string, purpose: string): Buffer {
  return createHash("sha256").update(`azora:${purpose}:`).update(masterSecret).digest();
}

/** AES-256-GCM; the output carries its own version, nonce and tag. */
export function encrypt(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const sealed = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return ["v1", iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), sealed.toString("base64url")].join(".");
}

export class DecryptionError extends Error {}

/** Reverses encrypt(); a wrong key or tampered data throws DecryptionError. */
export function decrypt(key: Buffer, sealed: string): string {
  const [version, iv, tag, data] = sealed.split(".");
  if (version !== "v1" || !iv || !tag || data === undefined) throw new DecryptionError("unknown ciphertext format");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(data, "base64url")), decipher.final()]).toString("utf8");
  } catch {
    throw new DecryptionError("cannot decrypt: wrong key or damaged data");
  }
}

/** SHA-256 hex digest, for storing tokens that are only ever compared. */
export function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}
