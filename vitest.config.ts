import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Suites start real servers and databases: two at a time on a two-core machine.
    pool: "forks",
    maxWorkers: 2,
    minWorkers: 1,
    // Generous: a suite that starts several databases takes minutes on a busy two-core machine.
    testTimeout: 300_000,
    hookTimeout: 600_000,
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
