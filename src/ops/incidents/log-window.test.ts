import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cutLogs, forEachLogLine } from "./log-window.ts";

const line = (minute: number, msg: string) => `${JSON.stringify({ level: 30, time: `2026-01-01T10:${String(minute).padStart(2, "0")}:00.000Z`, msg })}\n`;

describe("reading a stream's live and rotated files", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-log-window-"));
    await writeFile(join(dir, "api.log"), line(40, "live"));
    // azora logs rotate's name, Debian logrotate's with deployment/logrotate/azora, and logrotate's default.
    await writeFile(join(dir, "api.log.20260101T103000Z.gz"), gzipSync(line(20, "ours")));
    await writeFile(join(dir, "api.log-20260101-1767261600.gz"), gzipSync(line(10, "logrotate's dateext")));
    await writeFile(join(dir, "api.log.1"), line(5, "logrotate's default"));
    // A gzip logrotate is still writing (torn), and a rotation's .partial: neither is read.
    await writeFile(join(dir, "api.log-20260101-1767265200.gz"), gzipSync(line(30, "torn")).subarray(0, 20));
    await writeFile(join(dir, "api.log.20260101T104000Z.gz.partial"), gzipSync(line(35, "partial")));
    await writeFile(join(dir, "auth.log-20260101-1767261600.gz"), gzipSync(line(15, "auth")));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("cutLogs reads every rotated name, skips a torn gzip, and orders the lines by time", async () => {
    const cuts = await cutLogs(dir, { since: new Date("2026-01-01T10:00:00Z"), until: new Date("2026-01-01T11:00:00Z") });
    const api = cuts.find((cut) => cut.stream === "api")!;
    expect(api.lines.map((text) => JSON.parse(text).msg)).toEqual(["logrotate's default", "logrotate's dateext", "ours", "live"]);
    expect(cuts.find((cut) => cut.stream === "auth")!.lines).toHaveLength(1);
  });

  it("reads a rotation caught while it compresses once: the plain copy, not the gzip beside it", async () => {
    // logrotate writes X.gz beside X and unlinks X when done; `azora logs rotate` renames its gzip into place, then removes X.
    await writeFile(join(dir, "api.log-20260101-1767268800"), line(45, "logrotate compressing"));
    await writeFile(join(dir, "api.log-20260101-1767268800.gz"), gzipSync(line(45, "logrotate compressing")).subarray(0, 20));
    await writeFile(join(dir, "api.log.20260101T105000Z"), line(50, "ours compressing"));
    await writeFile(join(dir, "api.log.20260101T105000Z.gz"), gzipSync(line(50, "ours compressing")));
    const cuts = await cutLogs(dir, { since: new Date("2026-01-01T10:00:00Z"), until: new Date("2026-01-01T11:00:00Z") });
    const api = cuts.find((cut) => cut.stream === "api")!;
    expect(api.lines.map((text) => JSON.parse(text).msg)).toEqual(["logrotate's default", "logrotate's dateext", "ours", "live", "logrotate compressing", "ours compressing"]);
    expect(api.files).not.toContain("api.log.20260101T105000Z.gz");
    const seen: string[] = [];
    await forEachLogLine(dir, "api", (text) => text && seen.push(JSON.parse(text).msg));
    expect(seen.filter((msg) => msg.endsWith("compressing")).sort()).toEqual(["logrotate compressing", "ours compressing"]);
  });

  it("forEachLogLine reads the same files", async () => {
    const seen: string[] = [];
    await forEachLogLine(dir, "api", (text) => text && seen.push(JSON.parse(text).msg));
    expect(seen.sort()).toEqual(["live", "logrotate's dateext", "logrotate's default", "ours"]);
  });

  it("forEachLogLine skips a rotated gzip whose file cannot be read, and the process keeps running", async () => {
    // A directory under a rotated name stands for a file that fails once opened (EACCES for another user,
    // ENOENT when pruned between the check and the open): the file's own stream errors, not the gunzip.
    await mkdir(join(dir, "api.log.20260101T100000Z.gz"));
    const seen: string[] = [];
    await forEachLogLine(dir, "api", (text) => text && seen.push(JSON.parse(text).msg));
    expect(seen.sort()).toEqual(["live", "logrotate's dateext", "logrotate's default", "ours"]);
  });
});
