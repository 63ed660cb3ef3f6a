/**
 * `npm run bench:durability` — what DB_SYNC costs on the embedded database.
 *
 * For each mode (always, interval, off) it opens a fresh PGlite data directory the way the platform does
 * and times single-row INSERTs, each its own transaction (one commit = one acknowledged write). The modes
 * take turns for several rounds so that disk noise hits all of them alike; the median of each mode is
 * reported as inserts/s and as a ratio against "off" from the same run. The figures depend on the disk
 * under the data directory: set BENCH_DIR to measure the one that will hold DATA_DIR.
 *
 * Settings (environment): BENCH_INSERTS (per round, default 2000), BENCH_ROUNDS (default 3), BENCH_DIR.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPglite } from "../src/platform/db/pglite.ts";
import { DB_SYNC_MODES, type DbSync } from "../src/platform/db/pglite-durability.ts";

const inserts = Number(process.env.BENCH_INSERTS ?? 2000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const parent = process.env.BENCH_DIR ?? tmpdir();

async function insertsPerSecond(mode: DbSync): Promise<number> {
  const dir = await mkdtemp(join(parent, `azora-bench-durability-${mode}-`));
  try {
    const db = await openPglite(join(dir, "pg"), { sync: mode });
    try {
      await db.exec("CREATE TABLE bench_rows (id bigserial PRIMARY KEY, body text NOT NULL)");
      // A short warm-up, so the first WAL segment's allocation is not in the figures.
      for (let index = 0; index < 50; index++) await db.query("INSERT INTO bench_rows (body) VALUES ($1)", ["warm-up"]);
      const started = process.hrtime.bigint();
      for (let index = 0; index < inserts; index++) {
        await db.query("INSERT INTO bench_rows (body) VALUES ($1)", [`row ${index} of a durability benchmark`]);
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      return inserts / seconds;
    } finally {
      await db.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const runs = new Map<DbSync, number[]>(DB_SYNC_MODES.map((mode) => [mode, []]));
  process.stdout.write(`bench:durability: ${inserts} single-row INSERTs per round, ${rounds} rounds, data under ${parent}\n`);
  for (let round = 1; round <= rounds; round++) {
    for (const mode of DB_SYNC_MODES) {
      const figure = await insertsPerSecond(mode);
      runs.get(mode)?.push(figure);
      process.stdout.write(`  round ${round}  ${mode.padEnd(8)} ${figure.toFixed(0).padStart(7)} inserts/s\n`);
    }
  }
  const off = median(runs.get("off") ?? []);
  process.stdout.write(`\n| DB_SYNC  | inserts/s (median) | ratio to off |\n|----------|-------------------:|-------------:|\n`);
  for (const mode of DB_SYNC_MODES) {
    const value = median(runs.get(mode) ?? []);
    process.stdout.write(`| ${mode.padEnd(8)} | ${value.toFixed(0).padStart(18)} | ${(value / off).toFixed(2).padStart(12)} |\n`);
  }
}

await main();
