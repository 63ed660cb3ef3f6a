/**
 * `npm run bench:anomalies` — how fast `azora security anomalies` reads its logs.
 *
 * Writes a generated day of 1,000,000 events (auth.log and api.log, as the platform writes them, with the
 * planted attacks of the tests) to a temporary directory, then measures, in this one run:
 *   baseline  reading every line of those files with node:readline and doing nothing else;
 *   detector  the whole command: read, filter, parse, detect, report (no SUSPICIOUS_ACTIVITY written).
 * It prints events/s and seconds of each and the ratio detector / baseline. Target: under 30 s for the
 * detector (issue 12). Not run in CI.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { runAnomalies } from "../src/ops/security-anomalies.ts";
import { logFiles } from "../src/services/security/log-reader.ts";
import { defaultPolicyPath, loadPolicyFile } from "../src/services/security/policy.ts";
import { makeUsers, normalDay, plantBurst, plantSpraying, plantStuffing, plantTokenReuse } from "../test/helpers/security-logs.ts";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const start = Date.parse("2026-11-20T00:00:00Z");

const dir = await mkdtemp(join(tmpdir(), "azora-anomalies-bench-"));
try {
  const generating = Date.now();
  const users = makeUsers(Math.ceil(EVENTS / 30), 3);
  const day = normalDay({ start, events: EVENTS, users });
  plantSpraying(day, start + 3 * 3_600_000, users.slice(100, 140));
  plantStuffing(day, start + 9 * 3_600_000, users[200]!);
  plantBurst(day, start + 14 * 3_600_000, users.slice(300, 303));
  plantTokenReuse(day, start + 18 * 3_600_000, users[400]!);
  const written = await day.write(dir);
  console.log(`generated ${written} events in ${((Date.now() - generating) / 1000).toFixed(1)} s`);

  let baselineLines = 0;
  const baselineStart = performance.now();
  for (const file of await logFiles(dir, ["auth", "api"])) {
    for await (const _line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) baselineLines++;
  }
  const baselineSeconds = (performance.now() - baselineStart) / 1000;

  const policy = await loadPolicyFile(defaultPolicyPath);
  if (!policy.ok) throw new Error(policy.problems.join("; "));
  let report: { linesRead: number; findings: unknown[] } | undefined;
  const detectorStart = performance.now();
  const code = await runAnomalies(
    { logDir: dir, since: start, until: start + 86_400_000, policy: policy.policy, json: true, events: false, follow: false },
    { out: (text) => (report = JSON.parse(text) as typeof report), err: (text) => console.error(text) },
  );
  const detectorSeconds = (performance.now() - detectorStart) / 1000;

  const rate = (lines: number, seconds: number) => Math.round(lines / seconds).toLocaleString("en");
  console.log(`baseline  ${baselineLines} lines in ${baselineSeconds.toFixed(2)} s (${rate(baselineLines, baselineSeconds)} events/s)`);
  console.log(`detector  ${report?.linesRead} lines in ${detectorSeconds.toFixed(2)} s (${rate(report?.linesRead ?? 0, detectorSeconds)} events/s), ${report?.findings.length} findings, exit ${code}`);
  console.log(`detector / baseline time: ${(detectorSeconds / baselineSeconds).toFixed(2)}; target: detector under 30 s for 1,000,000 events`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
