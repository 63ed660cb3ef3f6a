import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { BackupKeyError, isSealed, sealFile, sha256File, unsealFile } from "./sealed-file.ts";

describe("sealed backup files", () => {
  let dir = "";
  afterEach(async () => rm(dir, { recursive: true, force: true }));
  const plain = Buffer.concat([Buffer.from("CREATE TABLE t (v text);\n"), randomBytes(200_000)]);

  it("round-trips through gzip and AES-256-GCM, and the stored bytes are neither plain nor gzip", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-sealed-"));
    const key = randomBytes(32);
    await sealFile(Readable.from([plain]), join(dir, "sealed"), { gzip: true, key });
    expect(await isSealed(join(dir, "sealed"))).toBe(true);
    expect((await readFile(join(dir, "sealed"))).includes(Buffer.from("CREATE TABLE"))).toBe(false);
    await unsealFile(join(dir, "sealed"), join(dir, "out"), { gzip: true, key });
    expect((await readFile(join(dir, "out"))).equals(plain)).toBe(true);
  });

  it("reports the size and SHA-256 of the stored bytes from the one pass that writes them, sealed or not, even when empty", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-sealed-"));
    for (const [name, source, sealing] of [
      ["sealed", plain, { gzip: true, key: randomBytes(32) }],
      ["plain", plain, { gzip: false, key: undefined }],
      ["empty-sealed", Buffer.alloc(0), { gzip: false, key: randomBytes(32) }],
    ] as const) {
      const path = join(dir, name);
      const written = await sealFile(Readable.from(source.length > 0 ? [source] : []), path, sealing);
      const stored = await readFile(path);
      expect(written, name).toEqual({ bytes: stored.length, sha256: await sha256File(path) });
      if (sealing.key) {
        await unsealFile(path, join(dir, `${name}.out`), sealing);
        expect((await readFile(join(dir, `${name}.out`))).equals(source), name).toBe(true);
      }
    }
  });

  it("refuses a wrong key and a flipped byte with BackupKeyError", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-sealed-"));
    const key = randomBytes(32);
    await sealFile(Readable.from([plain]), join(dir, "sealed"), { gzip: false, key });
    await expect(unsealFile(join(dir, "sealed"), join(dir, "out"), { gzip: false, key: randomBytes(32) })).rejects.toThrow(BackupKeyError);
    const bytes = await readFile(join(dir, "sealed"));
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 0x01;
    await writeFile(join(dir, "sealed"), bytes);
    await expect(unsealFile(join(dir, "sealed"), join(dir, "out"), { gzip: false, key })).rejects.toThrow(BackupKeyError);
    await expect(unsealFile(join(dir, "sealed"), join(dir, "out"), { gzip: false, key: undefined })).rejects.toThrow(/encrypted: set BACKUP_KEY/);
  });

  it("leaves files unencrypted without a key, gzip only", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-sealed-"));
    await sealFile(Readable.from([plain]), join(dir, "plain.gz"), { gzip: true, key: undefined });
    expect(await isSealed(join(dir, "plain.gz"))).toBe(false);
    await unsealFile(join(dir, "plain.gz"), join(dir, "out"), { gzip: true, key: undefined });
    expect((await readFile(join(dir, "out"))).equals(plain)).toBe(true);
  });
});
