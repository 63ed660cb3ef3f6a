import { execFileSync } from "node:child_process";
import { mkdtemp, rm, rmdir } from "node:fs/promises";
import { statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCi } from "../../src/platform/config.ts";

/** A small file system of its own (a tmpfs), so a test can fill it to the last byte without touching the machine's disks. */
export interface SmallDisk {
  dir: string;
  /** Writes a file that takes every free byte: the next write anywhere on this disk fails with ENOSPC. */
  fill(): void;
  /** Deletes that file: the disk has room again. */
  free(): void;
  dispose(): Promise<void>;
}

/**
 * Mounts a tmpfs of `sizeMb` (needs root, as the CI machine runs the suite). Where mounting is not
 * allowed the suite is skipped with the reason, except under CI, where that is a failure.
 */
export async function mountSmallDisk(sizeMb: number): Promise<SmallDisk | { skip: string }> {
  const dir = await mkdtemp(join(tmpdir(), "azora-small-disk-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m,mode=0755`, "tmpfs", dir], { stdio: "pipe" });
  } catch (error) {
    await rmdir(dir);
    const reason = `cannot mount a tmpfs here (${(error as Error).message.split("\n")[0]}): the full-disk tests need root`;
    if (isCi()) throw new Error(`${reason}; CI runs as root`);
    return { skip: reason };
  }
  const filler = join(dir, "filler");
  return {
    dir,
    fill() {
      // tmpfs counts pages: one write of every free byte, then small ones for what rounding left over.
      const { bavail, bsize } = statfsSync(dir);
      try {
        writeFileSync(filler, Buffer.alloc(Number(bavail) * Number(bsize)));
        for (let index = 0; index < 1024; index++) writeFileSync(filler, Buffer.alloc(4096), { flag: "a" });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      }
    },
    free() {
      execFileSync("rm", ["-f", filler]);
    },
    async dispose() {
      execFileSync("umount", ["-l", dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
