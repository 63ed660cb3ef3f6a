import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** Seconds each test file took in a full run, by path from the repository root (`.ci/test-durations.json`). */
export type Durations = Record<string, number>;

const durationsFile = new URL("../../.ci/test-durations.json", import.meta.url);

function readDurations(): Durations {
  try {
    return JSON.parse(readFileSync(durationsFile, "utf8")) as Durations;
  } catch {
    return {};
  }
}

/**
 * Longest file first, from durations kept in the repository. Vitest orders by the durations of its last run on
 * this machine, and without them (a fresh clone: CI) by file size, which put multi-minute suites of a few
 * lines last, where they ran alone while the other worker sat idle. Files the list does not name (new ones,
 * or all but the slowest when the list was written by hand) follow the named ones in vitest's own order.
 */
export default class DurationSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const durations = readDurations();
    const root = this.ctx.config.root;
    const seconds = (file: TestSpecification) => durations[relative(root, file.moduleId)] ?? 0;
    // Vitest's order first: the sort is stable, so files with the same figure (unnamed ones) keep it.
    return (await super.sort(files)).sort((a, b) => seconds(b) - seconds(a));
  }
}
