import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli.ts";
import type { Finding } from "../../src/services/security/anomalies.ts";
import { makeUsers, normalDay } from "../helpers/security-logs.ts";

const DAY = 86_400_000;
const start = Date.parse("2026-11-20T00:00:00Z");
const window = ["--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z"];
const users = makeUsers(1_000, 21);

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["node", "azora", ...args], { out: (text) => out.push(text), err: (text) => err.push(text) }, { DATA_DIR: join(tmpdir(), "azora-unused") });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** Seven baseline days and the day looked at, the same users throughout; `plant` adds to the last day. */
async function week(dir: string, plant?: (day: ReturnType<typeof normalDay>) => void) {
  for (let index = 7; index >= 1; index--) await normalDay({ start: start - index * DAY, events: 30_000, users, seed: 100 + index }).write(dir);
  const day = normalDay({ start, events: 30_000, users, seed: 100 });
  plant?.(day);
  await day.write(dir);
}

describe("azora security leak-detect", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "azora-leaks-"));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("finds nothing in normal days", async () => {
    const dir = await tempDir();
    await week(dir);
    const result = await run(["security", "leak-detect", "--log-dir", dir, ...window, "--json", "--no-events"]);
    expect(JSON.parse(result.out)).toMatchObject({ findings: [] });
    expect(result.code).toBe(0);
  });

  describe("with planted exfiltration, an export burst and id probing", () => {
    const reader = users[10]!;
    const prober = users[20]!;
    let findings: Finding[];
    beforeAll(async () => {
      const dir = await tempDir();
      await week(dir, (day) => {
        // One stolen token pages through content: 1,500 reads in an hour.
        for (let index = 0; index < 1_500; index++) day.access(start + 10 * 3_600_000 + index * 2_000, "203.0.113.50", "GET", "/api/content/:id", `/api/content/${index}`, 200, reader.id, "stolen-token-jti");
        for (let index = 0; index < 8; index++) day.gdprExport(start + 12 * 3_600_000 + index * 60_000, users[30 + index]!.id, "cli");
        for (let index = 0; index < 60; index++) day.access(start + 15 * 3_600_000 + index * 3_000, "198.51.100.77", "GET", "/api/user/:id", `/api/user/${index}`, 403, prober.id, "prober-jti");
      });
      const result = await run(["security", "leak-detect", "--log-dir", dir, ...window, "--json"]);
      expect(result.code).toBe(1);
      findings = (JSON.parse(result.out) as { findings: Finding[] }).findings;
    });
    const of = (kind: Finding["kind"]) => findings.filter((finding) => finding.kind === kind);

    it("names the user and the token whose reads left their baseline", () => {
      expect(of("unusual_read_volume_user").map((finding) => finding.subject)).toEqual([reader.id]);
      expect(of("unusual_read_volume_token")).toMatchObject([{ subject: "stolen-token-jti", userIds: [reader.id] }]);
    });

    it("finds the burst of GDPR exports", () => {
      expect(of("gdpr_export_burst")).toMatchObject([{ events: 8 }]);
    });

    it("finds the id probing with its user and address", () => {
      expect(of("enumeration")).toMatchObject([{ subject: prober.id, ips: ["198.51.100.77"], events: 60 }]);
    });

    it("reports nothing else", () => {
      expect(findings).toHaveLength(4);
    });
  });

  it("answers bad input with exit 2", async () => {
    expect(await run(["security", "leak-detect", "--until", "soon"])).toMatchObject({ code: 2, err: expect.stringContaining('--until "soon"') });
  });
});
