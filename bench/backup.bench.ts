/**
 * `npm run bench:backup` (not in CI): `azora backup full` and `azora restore` of a generated data set
 * (BENCH_ROWS content rows, default 1,000,000) on PostgreSQL, against raw pg_dump / pg_restore of the same
 * database in the same run (BENCH_ROUNDS rounds, default 2, fastest of each side), and the restore drill's recovery time per GB. Needs DATABASE_URL (a server
 * where this user may CREATE DATABASE); everything it creates is dropped at the end.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { resolveSource } from "../src/ops/backup/backup-store.ts";
import { takeFullBackup } from "../src/ops/backup/full-backup.ts";
import { drillBackup, restoreBackup } from "../src/ops/backup/restore.service.ts";
import { libpqEnv, runTool } from "../src/ops/backup/postgres-tools.ts";
import type { CommandIO } from "../src/platform/command.ts";
import { loadConfig } from "../src/platform/config.ts";
import { closePlatform, openPlatform } from "../src/platform/context.ts";

const serverUrl = process.env.DATABASE_URL;
const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
if (!serverUrl) {
  console.error("bench:backup needs DATABASE_URL (PostgreSQL; the user must be allowed to CREATE DATABASE).");
  process.exit(2);
}
/** Each step's label and when it started, so the figures say where the time goes. */
let steps: { label: string; at: number }[] = [];
/** Steps start being counted now: what runs before the first step (locks, maintenance on) shows as "starting". */
const startSteps = () => void (steps = [{ label: "starting", at: performance.now() }]);
const quiet: CommandIO = { out: () => undefined, err: (text) => console.error(text), progress: ({ label }) => void steps.push({ label, at: performance.now() }) };
const stepTimes = (endAt: number) =>
  steps.map((step, index) => `${step.label} ${(((steps[index + 1]?.at ?? endAt) - step.at) / 1000).toFixed(1)} s`).join("; ");
const name = `azora_bench_${process.pid}`;
const urlOf = (database: string) => Object.assign(new URL(serverUrl), { pathname: `/${database}` }).href;
const admin = async (sql: string) => {
  const client = new pg.Client({ connectionString: urlOf("postgres") });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
};
const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const started = process.hrtime.bigint();
  const result = await work();
  return [result, Number(process.hrtime.bigint() - started) / 1e9];
};

const dataDir = await mkdtemp(join(tmpdir(), "azora-bench-backup-"));
await admin(`CREATE DATABASE ${name}`);
const loaded = loadConfig({ DATA_DIR: dataDir, DATABASE_URL: urlOf(name), LOG_STDOUT: "false", MAINTENANCE_POLL_MS: "100", BACKUP_SCHEDULE: "off" });
if (!loaded.ok) throw new Error(loaded.problems.join("; "));
const context = await openPlatform(loaded.config, { migrate: true });
try {
  console.log(`generating ${rows.toLocaleString("en")} content rows…`);
  const owners = Math.max(1, Math.ceil(rows / 1000));
  await context.db.query(
    `INSERT INTO users (email, password_hash) SELECT 'bench' || i || '@example.test', '$argon2id$v=19$m=19456,t=2,p=1$x$y' FROM generate_series(1, $1::int) AS i`,
    [owners],
  );
  await context.db.query(
    `INSERT INTO content (owner_id, title, body)
     SELECT o.ids[1 + i % $2::int], 'title ' || i, repeat(md5(i::text), 8)
     FROM generate_series(1, $1::int) AS i, (SELECT array_agg(id) AS ids FROM users) AS o`,
    [rows, owners],
  );
  await context.db.query("ANALYZE");
  const [{ bytes } = { bytes: "0" }] = await context.db.query<{ bytes: string }>("SELECT pg_database_size(current_database())::text AS bytes");
  const gb = Number(bytes) / 1024 ** 3;

  const rawFile = join(dataDir, "raw.pgdump");
  // Rounds alternate the raw tools and ours, and each side keeps its fastest: on a shared machine a
  // burst of foreign load then weighs on one round of each rather than on one side only.
  let rawDump = Infinity;
  let rawRestore = Infinity;
  let azoraBackup = Infinity;
  let azoraRestore = Infinity;
  let backupSteps = "";
  let restoreSteps = "";
  let backup: Awaited<ReturnType<typeof takeFullBackup>>["backup"] | undefined;
  for (let round = 1; round <= rounds; round++) {
    rawDump = Math.min(rawDump, (await timed(() => runTool("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", `--file=${rawFile}`], libpqEnv(urlOf(name)))))[1]);
    rawRestore = Math.min(rawRestore, (await timed(async () => {
      await admin(`CREATE DATABASE ${name}_raw${round}`);
      await runTool("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", `--dbname=${name}_raw${round}`, rawFile], libpqEnv(urlOf(name)));
    }))[1]);
    await admin(`DROP DATABASE ${name}_raw${round}`);
    startSteps();
    const [taken, backupSeconds] = await timed(() => takeFullBackup(context, "full", quiet));
    if (backupSeconds < azoraBackup) [azoraBackup, backupSteps] = [backupSeconds, stepTimes(performance.now())];
    backup = taken.backup;
    startSteps();
    const [, restoreSeconds] = await timed(async () => restoreBackup(context, await resolveSource(loaded.config.paths.backups, taken.backup.manifest.id), quiet));
    if (restoreSeconds < azoraRestore) [azoraRestore, restoreSteps] = [restoreSeconds, stepTimes(performance.now())];
  }
  if (!backup) throw new Error("BENCH_ROUNDS must be at least 1");
  const source = await resolveSource(loaded.config.paths.backups, backup.manifest.id);
  const drill = await drillBackup(context, source as Extract<typeof source, { type: "backup" }>, quiet);

  const line = (label: string, raw: number, ours: number) =>
    console.log(`${label.padEnd(8)} pg tools ${raw.toFixed(1)} s   azora ${ours.toFixed(1)} s   throughput ratio ${(raw / ours).toFixed(2)}x (target >= 0.90)`);
  console.log(`database ${(Number(bytes) / 1024 ** 2).toFixed(0)} MiB, ${rows.toLocaleString("en")} content rows, backup file ${((await stat(rawFile)).size / 1024 ** 2).toFixed(0)} MiB (raw) / ${(backup.manifest.sizeBytes / 1024 ** 2).toFixed(0)} MiB (azora)`);
  line("backup", rawDump, azoraBackup);
  line("restore", rawRestore, azoraRestore);
  console.log(`backup steps: ${backupSteps}\nrestore steps: ${restoreSteps}`);
  console.log(`drill    ${drill.ok ? "passed" : "FAILED"} in ${drill.recoverySeconds.toFixed(1)} s = ${(drill.recoverySeconds / gb).toFixed(1)} s per GB`);
} finally {
  await closePlatform(context);
  const leftovers = await admin(`SELECT datname FROM pg_database WHERE datname LIKE '${name}%'`);
  for (const { datname } of leftovers as { datname: string }[]) await admin(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  await rm(dataDir, { recursive: true, force: true });
}
