import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readWindow } from "./forensics.ts";

const at = (minute: number) => `2026-11-29T10:${String(minute).padStart(2, "0")}:00.000Z`;
const reuse = (minute: number, ip: string) => `${JSON.stringify({ level: 40, time: at(minute), event: "TOKEN_REUSED", ip, userId: "u-1" })}\n`;

describe("the forensics reader over rotated files", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-forensics-files-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("reads the files deployment/logrotate/azora leaves, and a rotation caught while it compresses once", async () => {
    // Debian logrotate's name with the shipped config (dateext, -%Y%m%d-%s), compressed.
    await writeFile(join(dir, "auth.log-20261129-1764410400.gz"), gzipSync(reuse(5, "203.0.113.5")));
    // The next rotation while logrotate compresses it: the plain file and its (half-written) gzip side by side.
    await writeFile(join(dir, "auth.log-20261129-1764411000"), reuse(15, "203.0.113.15"));
    await writeFile(join(dir, "auth.log-20261129-1764411000.gz"), gzipSync(reuse(15, "203.0.113.15")));
    // `azora logs rotate`'s name, and the live file.
    await writeFile(join(dir, "auth.log.20261129T102000Z.gz"), gzipSync(reuse(20, "203.0.113.20")));
    await writeFile(join(dir, "auth.log"), reuse(30, "203.0.113.30"));

    const seen: string[] = [];
    const read = await readWindow(dir, Date.parse(at(0)), Date.parse(at(59)), (_stream, _raw, entry) => entry && seen.push(`${entry.kind} ${entry.ip}`));
    expect(seen.sort()).toEqual(["token_reuse 203.0.113.15", "token_reuse 203.0.113.20", "token_reuse 203.0.113.30", "token_reuse 203.0.113.5"]);
    expect(read.lines).toBe(4);
    expect(read.files.map((file) => basename(file)).sort()).toEqual(["auth.log", "auth.log-20261129-1764410400.gz", "auth.log-20261129-1764411000", "auth.log.20261129T102000Z.gz"]);
  });
});
