import { appendFileSync, readFileSync } from "node:fs";
import { afterAll, expect } from "vitest";

/**
 * Set up by vitest.config.ts when TEST_CPU_REPORT names a file: appends one JSON line per test file with its wall
 * time and the CPU time spent for it, so a run shows which suites compute and which wait (on child processes'
 * start, on polls, on the shared PostgreSQL). Each file runs in a process of its own (pool "forks"), so this
 * process's CPU (every thread: argon2, PGlite) plus that of the child processes it waited for (CLIs, tools) is
 * the file's own. Servers it did not start (PostgreSQL, Redis) are not counted.
 */
const report = process.env.TEST_CPU_REPORT;
const ticksPerSecond = 100; // USER_HZ on Linux

/** utime, stime, cutime, cstime of this process in seconds (/proc/self/stat fields 14–17). */
function cpuSeconds(): { self: number; children: number } {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
    // Fields after "(comm)" start at field 3, so field n is fields[n - 3].
    return { self: (fields[11]! + fields[12]!) / ticksPerSecond, children: (fields[13]! + fields[14]!) / ticksPerSecond };
  } catch {
    const usage = process.cpuUsage();
    return { self: (usage.user + usage.system) / 1e6, children: 0 };
  }
}

// Taken when the setup file loads, before the test file is imported: its imports count too.
const startedAt = performance.now();
const before = cpuSeconds();
afterAll(() => {
  if (!report) return;
  const after = cpuSeconds();
  const file = expect.getState().testPath ?? "unknown";
  const wall = (performance.now() - startedAt) / 1000;
  const line = { file, wall: round(wall), cpu: round(after.self - before.self), childrenCpu: round(after.children - before.children) };
  appendFileSync(report, `${JSON.stringify(line)}\n`);
});

const round = (seconds: number) => Math.round(seconds * 10) / 10;
