import { defineConfig } from "vitest/config";

// The staging suites (test/staging/*.staging.ts) against AZORA_BASE_URL: one file at a time, each request
// with its own 5 s deadline. npm test runs the same suites against a local azora up (test/staging-suites.test.ts).
export default defineConfig({
  test: {
    include: ["test/staging/**/*.staging.ts"],
    pool: "forks",
    maxWorkers: 1,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
