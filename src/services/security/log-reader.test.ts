import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { logFiles, readLogFile } from "./log-reader.ts";

const line = (minute: number, ip: string) => `${JSON.stringify({ level: 30, time: `2026-11-29T10:${String(minute).padStart(2, "0")}:00.000Z`, event: "LOGIN_FAILED", ip })}\n`;
const everything = { since: 0, until: Number.MAX_SAFE_INTEGER, wanted: () => true };

describe("the security detectors' log files", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-log-reader-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("reads a listed rotation from its .gz once logrotate has finished compressing it, and skips one pruned since", async () => {
    await writeFile(join(dir, "auth.log-20261129-1764410400"), line(5, "203.0.113.5"));
    await writeFile(join(dir, "auth.log-20261129-1764410400.gz"), gzipSync(line(5, "203.0.113.5")));
    await writeFile(join(dir, "auth.log.20261129T100000Z.gz"), gzipSync(line(1, "203.0.113.1")));
    await writeFile(join(dir, "auth.log"), line(10, "203.0.113.10"));
    const files = await logFiles(dir, ["auth"]);
    expect(files.map((file) => basename(file))).toEqual(["auth.log", "auth.log-20261129-1764410400", "auth.log.20261129T100000Z.gz"]);
    // Between the listing and the reading: logrotate unlinks the plain copy, and a prune removes the oldest rotation.
    await rm(join(dir, "auth.log-20261129-1764410400"));
    await rm(join(dir, "auth.log.20261129T100000Z.gz"));
    const ips: unknown[] = [];
    for (const file of files) await readLogFile(file, everything, (read) => ips.push(read.ip));
    expect(ips.sort()).toEqual(["203.0.113.10", "203.0.113.5"]);
  });

  it("a rotated gzip whose file cannot be read fails that read with the file's name instead of stopping the process", async () => {
    // A directory under a rotated name stands for a file that fails once opened (EACCES for another user):
    // the file's own stream errors, which a gunzip piped from it does not pass on.
    const unreadable = join(dir, "auth.log.20261129T090000Z.gz");
    await mkdir(unreadable);
    await writeFile(join(dir, "auth.log"), line(10, "203.0.113.10"));
    const [live, rotated] = await logFiles(dir, ["auth"]);
    expect(rotated).toBe(unreadable);
    await expect(readLogFile(rotated!, everything, () => undefined)).rejects.toThrow(`cannot read ${unreadable}: EISDIR`);
    const ips: unknown[] = [];
    await readLogFile(live!, everything, (read) => ips.push(read.ip));
    expect(ips).toEqual(["203.0.113.10"]);
  });
});
