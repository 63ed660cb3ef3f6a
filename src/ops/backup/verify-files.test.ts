import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { StoredBackup } from "./backup-store.ts";
import type { Manifest } from "./manifest.ts";
import { verifyFiles } from "./restore-scratch.ts";

describe("verifyFiles", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const backupWith = async (files: (dir: string) => Promise<Manifest["files"]>): Promise<StoredBackup> => {
    const dir = await mkdtemp(join(tmpdir(), "verify-files-"));
    dirs.push(dir);
    return { dir, manifest: { files: await files(dir) } as Manifest };
  };
  const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

  it("a file that cannot be read is reported with the reason, not as damaged", async () => {
    // A directory where the file should be: its size can be made to match, its bytes cannot be read.
    const backup = await backupWith(async (dir) => {
      await mkdir(join(dir, "database.pgdump"));
      return [{ name: "database.pgdump", bytes: (await stat(join(dir, "database.pgdump"))).size, sha256: sha256("") }];
    });
    const [problem, ...more] = await verifyFiles(backup);
    expect(more).toEqual([]);
    expect(problem).toContain(`${join(backup.dir, "database.pgdump")}: unreadable (`);
    expect(problem).toContain("EISDIR");
    expect(problem).not.toContain("damaged");
  });

  it("a file whose bytes differ is reported as damaged; an intact one is not reported", async () => {
    const backup = await backupWith(async (dir) => {
      await writeFile(join(dir, "a.txt"), "abc");
      await writeFile(join(dir, "b.txt"), "abd");
      return [
        { name: "a.txt", bytes: 3, sha256: sha256("abc") },
        { name: "b.txt", bytes: 3, sha256: sha256("abc") },
      ];
    });
    expect(await verifyFiles(backup)).toEqual([`${join(backup.dir, "b.txt")}: SHA-256 differs from the manifest (damaged)`]);
  });
});
