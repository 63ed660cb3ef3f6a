#!/usr/bin/env node
// Refreshes .ci/test-durations.json (the order in which test/helpers/duration-sequencer.ts starts files) from a
// full run's JSON report:  npx vitest run --reporter=json --outputFile=/tmp/report.json; node .ci/record-durations.mjs /tmp/report.json
import { readFileSync, writeFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// ROOT: the checkout the report was taken in, when not this one.
const [report, reportRoot] = process.argv.slice(2);
if (!report) {
  process.stderr.write("usage: record-durations.mjs REPORT.json [ROOT] (vitest --reporter=json --outputFile=REPORT.json)\n");
  process.exit(2);
}
const root = resolve(reportRoot ?? fileURLToPath(new URL("..", import.meta.url)));
const { testResults } = JSON.parse(readFileSync(report, "utf8"));
const durations = Object.fromEntries(
  testResults
    .map((file) => [relative(root, resolve(file.name)), Math.round((file.endTime - file.startTime) / 100) / 10])
    .sort(([a], [b]) => (a < b ? -1 : 1)),
);
writeFileSync(new URL("test-durations.json", import.meta.url), `${JSON.stringify(durations, null, 2)}\n`);
process.stdout.write(`${Object.keys(durations).length} files recorded\n`);
