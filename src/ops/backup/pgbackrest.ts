import { access, constants, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../../platform/config.ts";
import type { Queryable } from "../../platform/db/db.ts";
import { runTool, ToolError } from "./postgres-tools.ts";

/** pgBackRest's stanza for this installation. */
export const STANZA = "azora";

export const pgbackrestPaths = (config: Config) => {
  const root = join(config.dataDir, "pgbackrest");
  return { root, conf: join(root, "pgbackrest.conf"), repo: join(root, "repo"), log: join(root, "log"), lock: join(root, "lock"), runs: join(root, "runs.json") };
};

/** The archive_command the server must run, exactly. */
export const archiveCommand = (config: Config) => `pgbackrest --config=${pgbackrestPaths(config).conf} --stanza=${STANZA} archive-push %p`;

export async function isConfigured(config: Config): Promise<boolean> {
  return access(pgbackrestPaths(config).conf, constants.R_OK).then(
    () => true,
    () => false,
  );
}

/** Runs pgbackrest with this installation's configuration and stanza. */
export function pgbackrest(config: Config, args: string[]): Promise<string> {
  return runTool("pgbackrest", [`--config=${pgbackrestPaths(config).conf}`, `--stanza=${STANZA}`, ...args], { PATH: process.env.PATH, HOME: process.env.HOME });
}

/** What the server says about itself: where its data is, how to reach its socket, how it archives WAL. */
export async function serverSettings(db: Queryable) {
  const show = async (name: string) => ((await db.query<Record<string, string>>(`SHOW ${name}`))[0]?.[name] ?? "");
  return {
    dataDirectory: await show("data_directory"),
    socketDir: (await show("unix_socket_directories")).split(",")[0]?.trim() ?? "",
    port: await show("port"),
    user: ((await db.query<{ u: string }>("SELECT current_user AS u"))[0]?.u ?? "postgres"),
    archiveMode: await show("archive_mode"),
    archiveCommand: await show("archive_command"),
    walLevel: await show("wal_level"),
  };
}
export type ServerSettings = Awaited<ReturnType<typeof serverSettings>>;

/** Writes the stanza configuration (repository, logs and locks under DATA_DIR/pgbackrest). */
export async function writeConfiguration(config: Config, server: ServerSettings, pgData: string): Promise<void> {
  const paths = pgbackrestPaths(config);
  for (const dir of [paths.root, paths.repo, paths.log, paths.lock]) await mkdir(dir, { recursive: true, mode: 0o700 });
  const text = [
    "# Written by azora backup setup.",
    "[global]",
    `repo1-path=${paths.repo}`,
    `repo1-retention-full=${Math.max(2, config.backup.keepDaily)}`,
    `log-path=${paths.log}`,
    `lock-path=${paths.lock}`,
    "log-level-console=warn",
    "start-fast=y",
    "",
    `[${STANZA}]`,
    `pg1-path=${pgData}`,
    `pg1-port=${server.port}`,
    `pg1-socket-path=${server.socketDir}`,
    `pg1-user=${server.user}`,
    "",
  ].join("\n");
  await writeFile(paths.conf, text, { mode: 0o600 });
}

/** The server settings that are not yet what WAL archiving needs, as lines for postgresql.conf. */
export function missingServerSettings(config: Config, server: ServerSettings): string[] {
  const lines: string[] = [];
  if (server.walLevel !== "replica" && server.walLevel !== "logical") lines.push("wal_level = replica");
  if (server.archiveMode !== "on" && server.archiveMode !== "always") lines.push("archive_mode = on");
  if (server.archiveCommand !== archiveCommand(config)) lines.push(`archive_command = '${archiveCommand(config).replaceAll("'", "''")}'`);
  return lines;
}

/** pg1-path from the written configuration. */
export async function configuredDataDir(config: Config): Promise<string> {
  const text = await readFile(pgbackrestPaths(config).conf, "utf8");
  const match = /^pg1-path=(.+)$/m.exec(text);
  if (!match?.[1]) throw new ToolError(`${pgbackrestPaths(config).conf} names no pg1-path: run azora backup setup again`);
  return match[1];
}

export interface PgbackrestRun {
  at: string;
  durationSeconds: number;
  sizeBytes: number;
}

/** Records a successful pgBackRest backup for the freshness metrics. */
export async function recordRun(config: Config, kind: "full" | "incremental", run: PgbackrestRun): Promise<void> {
  const runs = await readRuns(config);
  runs[kind] = run;
  await writeFile(pgbackrestPaths(config).runs, JSON.stringify(runs), { mode: 0o600 });
}

export async function readRuns(config: Config): Promise<Partial<Record<"full" | "incremental", PgbackrestRun>>> {
  try {
    return JSON.parse(await readFile(pgbackrestPaths(config).runs, "utf8")) as Partial<Record<"full" | "incremental", PgbackrestRun>>;
  } catch {
    return {};
  }
}

/** Size of the newest backup in the repository, from pgbackrest info. */
export async function newestBackupSize(config: Config): Promise<number> {
  const info = JSON.parse(await pgbackrest(config, ["--output=json", "info"])) as { backup?: { info?: { repository?: { delta?: number } } }[] }[];
  return info[0]?.backup?.at(-1)?.info?.repository?.delta ?? 0;
}

/**
 * `pgbackrest verify` of the repository: every backup file and archived WAL segment against pgBackRest's own
 * checksums. pgBackRest exits 0 even when it finds damage, so its summary and per-file lines are read.
 * Returns the damaged files (named under the repository) and summary lines; empty when all is valid.
 */
export async function verifyRepository(config: Config): Promise<string[]> {
  const { repo } = pgbackrestPaths(config);
  const output = await runTool("pgbackrest", [`--config=${pgbackrestPaths(config).conf}`, `--stanza=${STANZA}`, "--output=text", "--log-level-console=info", "--log-timestamp=n", "verify"], {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
  });
  const problems: string[] = [];
  for (const line of output.split("\n")) {
    // e.g. "P01   INFO: invalid checksum '20261129-103219F/pg_data/global/1260.gz'"
    const file = /INFO: (.+?) '([^']+)'\s*$/.exec(line);
    if (file?.[1] && file[2] && !/^verify command/.test(file[1])) {
      const area = /^\d+-\d+\//.test(file[2]) ? "archive" : "backup";
      problems.push(`${join(repo, area, STANZA, file[2])}: ${file[1]}`);
    }
  }
  if (/status: error/.test(output)) {
    for (const line of output.split("\n")) {
      const summary = /(?:backup|archiveId): .*status: (?!valid\b).*|(?:missing|checksum invalid|size invalid|other): [1-9].*/.exec(line.trim());
      if (summary) problems.push(summary[0]);
    }
    if (problems.length === 0) problems.push(`pgbackrest verify reports errors in ${repo}: run pgbackrest --config=${pgbackrestPaths(config).conf} --stanza=${STANZA} verify --log-level-console=detail`);
  }
  return problems;
}
