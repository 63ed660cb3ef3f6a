import { defineConfig } from "vitest/config";
import DurationSequencer from "./test/helpers/duration-sequencer.ts";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Suites start real servers and databases, and about half of a file's wall time is waiting (on child
    // processes, polls, drains, the shared PostgreSQL): three at a time keep a two-core machine busy without
    // oversubscribing it (docs/adr/0490).
    pool: "forks",
    maxWorkers: 3,
    minWorkers: 1,
    // Longest files first, from the durations in .ci/test-durations.json: the run ends on short files on every
    // worker instead of one long file alone (docs/adr/0440).
    sequence: { sequencer: DurationSequencer },
    // Generous: a suite that starts several databases takes minutes on a busy two-core machine.
    testTimeout: 300_000,
    hookTimeout: 600_000,
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
    // TEST_CPU_REPORT=FILE: one line per test file with its wall and CPU seconds (wait-bound or CPU-bound).
    setupFiles: process.env.TEST_CPU_REPORT ? ["./test/helpers/cpu-usage-setup.ts"] : [],
  },
});
