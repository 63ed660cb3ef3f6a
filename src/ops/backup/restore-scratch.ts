import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { reportProgress, type CommandIO } from "../../platform/command.ts";
import type { PlatformContext } from "../../platform/context.ts";
import { migrationsDir } from "../../platform/db/migrator.ts";
import { ownerTag } from "../../platform/process-identity.ts";
import { backupKey } from "./backup-key.ts";
import type { RestoreSource, StoredBackup } from "./backup-store.ts";
import { compareTables, type FileEntry, type StatsFormat, type TableStats } from "./manifest.ts";
import { loadPgDumpIntoNewPgliteDir } from "./pgdump-into-pglite.ts";
import { loadIntoNewPgliteDir } from "./pglite-sql-script.ts";
import { splitSqlFile } from "./sql-script-splitter.ts";
import type { Db } from "../../platform/db/db.ts";
import { openPostgres } from "../../platform/db/postgres.ts";
import { createDatabase, databaseOf, dropDatabase, loadAndRecount, scratchName, urlFor } from "./postgres-engine.ts";
import { unsealFile, sha256File } from "./sealed-file.ts";
import { dropAbandonedScratchDatabases, leaseScratchDatabase } from "./scratch-databases.ts";
import { stat } from "node:fs/promises";

/** A restore or drill that must not go ahead; nothing was changed. The message says why and what to do. */
export class RestoreRefused extends Error {
  constructor(message: string, readonly problems: string[] = []) {
    super(message);
  }
}

/** The newest migration this version of Azora OS knows: a backup from a newer schema cannot be served by it. */
export async function latestKnownSchema(): Promise<string> {
  const files = (await readdir(migrationsDir)).filter((name) => /^\d{14}_[a-z0-9_]+\.sql$/.test(name)).sort();
  return (files.at(-1) ?? "").replace(/\.sql$/, "");
}

/** Checks every file of a backup against its manifest; each problem names the file. */
export async function verifyFiles(backup: StoredBackup): Promise<string[]> {
  const problems: string[] = [];
  for (const file of backup.manifest.files) {
    const problem = (await checkSize(backup.dir, file)) ?? (await checkSha256(backup.dir, file));
    if (problem) problems.push(problem);
  }
  return problems;
}

/** A file missing, or of another size than the manifest says (cheap: no read). */
async function checkSize(dir: string, file: FileEntry): Promise<string | undefined> {
  const path = join(dir, file.name);
  const info = await stat(path).catch(() => undefined);
  if (!info) return `${path}: missing`;
  if (info.size !== file.bytes) return `${path}: ${info.size} bytes, the manifest says ${file.bytes} (truncated or replaced)`;
  return undefined;
}

/** A file whose bytes differ from the manifest's SHA-256 (a file that cannot be read is a problem too). */
async function checkSha256(dir: string, file: FileEntry): Promise<string | undefined> {
  const path = join(dir, file.name);
  let sha256: string;
  try {
    sha256 = await sha256File(path);
  } catch (error) {
    // Not a verdict on its bytes (permissions, a directory in its place): the reason is what to fix.
    return `${path}: unreadable (${error instanceof Error ? error.message : String(error)})`;
  }
  return sha256 === file.sha256 ? undefined : `${path}: SHA-256 differs from the manifest (damaged)`;
}

/** A copy of the backup loaded beside the live database, not yet serving. */
export interface ScratchCopy {
  /** A PGlite directory on the embedded default, a database name on PostgreSQL. */
  location: string;
  stats: TableStats[];
  /** Differences from the manifest; empty when the copy is proven equal (or there is no manifest to compare with). */
  problems: string[];
  /** Whether a manifest was there to compare with (a plain .sql file has none). */
  checked: boolean;
  /** The copy as a database, to migrate it before the swap; the caller closes it. */
  open(): Promise<Db>;
  /** Closes and removes the copy. */
  discard(): Promise<void>;
  /** The copy was swapped in and serves: it is no longer a scratch database (lets go of its lease). */
  settle(): Promise<void>;
}

/**
 * Checks the backup (checksums, schema version, key), loads it into a new PGlite directory or a new
 * PostgreSQL database next to the live one, and compares the copy with the manifest. The live database
 * is not touched; on any failure the copy is removed. An aborted `stop` (the restore was stopped) stops the
 * load's tool and refuses with restoreStopped().
 */
export async function loadScratchCopy(context: PlatformContext, source: RestoreSource, purpose: "restore" | "drill", io: CommandIO, stop?: AbortSignal): Promise<ScratchCopy> {
  const { config } = context;
  const embedded = !config.database.url;
  const work = join(config.paths.backups, `.work-${ownerTag()}-${randomBytes(4).toString("hex")}`);
  let dumpFile: string;
  let format: "sql" | "pg_dump-custom" = "sql";
  // The stored dump's checksum when it is read beside the load (ADR 0520): the refusal if it differs.
  let checkDump: (() => Promise<RestoreRefused | undefined>) | undefined;
  // A plain SQL file has no manifest: its statistics only count rows, the SQL way (format 1).
  const statsFormat = source.type === "backup" ? source.backup.manifest.format : 1;
  await mkdir(work, { recursive: true, mode: 0o700 });
  try {
    if (source.type === "backup") {
      const { manifest } = source.backup;
      reportProgress(io, { done: 1, total: 4, label: `checking ${manifest.id}` });
      // A dump stored as pg_dump wrote it (custom format, neither compressed nor encrypted) is loaded from where
      // it is, and its SHA-256 is read beside the load rather than before it (ADR 0520): pg_restore sends its SQL
      // to the scratch database only (psql, which also runs meta-commands, never gets an unchecked file), a
      // mismatch stops the load, and no copy is handed back before the check passed.
      const loadsStored = !manifest.encryption && !manifest.dump.gzip && manifest.dump.format === "pg_dump-custom";
      const checkedBeside = loadsStored ? manifest.files.find((file) => file.name === manifest.dump.file) : undefined;
      const damaged: string[] = [];
      for (const file of manifest.files) {
        const problem = (await checkSize(source.backup.dir, file)) ?? (file === checkedBeside ? undefined : await checkSha256(source.backup.dir, file));
        if (problem) damaged.push(problem);
      }
      if (damaged.length > 0) throw damagedBackup(manifest.id, damaged);
      if (checkedBeside) checkDump = async () => {
        const problem = await checkSha256(source.backup.dir, checkedBeside);
        return problem ? damagedBackup(manifest.id, [problem]) : undefined;
      };
      const known = await latestKnownSchema();
      if (manifest.schemaVersion > known) {
        throw new RestoreRefused(`backup ${manifest.id} has schema ${manifest.schemaVersion}, newer than this Azora OS knows (${known}): restore it with the version that took it (${manifest.appVersion}) or newer`);
      }
      const key = backupKey(config);
      if (manifest.encryption) {
        if (!key) throw new RestoreRefused(`backup ${manifest.id} is encrypted: set ${manifest.encryption.keySource} to the key it was taken with`);
        if (key.id !== manifest.encryption.keyId) throw new RestoreRefused(`backup ${manifest.id} was encrypted with another key: set ${manifest.encryption.keySource} to the key it was taken with`);
      }
      format = manifest.dump.format;
      const stored = join(source.backup.dir, manifest.dump.file);
      if (!manifest.encryption && !manifest.dump.gzip) {
        // Stored as pg_dump wrote it, and just checked against the manifest: loaded from where it is, not copied first.
        dumpFile = stored;
      } else {
        dumpFile = join(work, format === "sql" ? "dump.sql" : "dump.pgdump");
        reportProgress(io, { done: 2, total: 4, label: "decrypting and decompressing" });
        await unsealFile(stored, dumpFile, { gzip: manifest.dump.gzip, key: key?.key });
      }
      // A plain dump cut short can still load and count every row (only trailing indexes and constraints lost):
      // pg_dump's closing line is the proof that it wrote the whole dump.
      if (format === "sql" && !(await endsWithDumpComplete(dumpFile))) {
        throw new RestoreRefused(`backup ${manifest.id} is incomplete: its dump stops before pg_dump's closing line (the backup was cut off); nothing was changed`);
      }
    } else {
      reportProgress(io, { done: 2, total: 4, label: `reading ${source.file}` });
      dumpFile = source.file;
      // No manifest to check it against, but a file pg_dump wrote says where it ends: one cut at a statement
      // boundary would load every row and go live without the indexes and constraints that come last.
      if ((await startsAsPgDump(source.file)) && !(await endsWithDumpComplete(source.file))) {
        throw new RestoreRefused(`${source.file} is incomplete: it starts as a pg_dump file but stops before pg_dump's closing line (cut off or still being written); nothing was changed`);
      }
      if (embedded && (await copiesFromStdin(source.file))) {
        throw new RestoreRefused(`${source.file} loads rows with COPY … FROM stdin, which the embedded database cannot read: make it with pg_dump --inserts`);
      }
    }

    reportProgress(io, { done: 3, total: 4, label: `loading into a new ${embedded ? "directory" : "database"} beside the live one` });
    const url = config.database.url ?? "";
    const location = embedded ? `${config.paths.pg}.${purpose}-${ownerTag()}-${randomBytes(4).toString("hex")}` : scratchName(databaseOf(url), purpose);
    const target = { context, location, dumpFile, format, statsFormat, work, converted: join(work, "converted.sql") };
    const stopLoad = new AbortController();
    stop?.addEventListener("abort", () => stopLoad.abort(), { once: true });
    if (stop?.aborted) throw restoreStopped();
    const dumpChecked = (checkDump?.() ?? Promise.resolve(undefined)).then((refusal) => {
      if (refusal) stopLoad.abort();
      return refusal;
    });
    let copy: LoadedCopy;
    try {
      copy = await loadCopy(target, io, stopLoad.signal);
    } catch (error) {
      // A damaged file explains a failed (or stopped) load better than the loader's own error.
      throw (await dumpChecked) ?? (stop?.aborted ? restoreStopped() : error);
    }
    const refusal = await dumpChecked;
    if (refusal) {
      await copy.discard().catch(() => undefined);
      throw refusal;
    }
    const { stats, open, discard, settle } = copy;

    reportProgress(io, { done: 4, total: 4, label: "comparing row counts and checksums with the manifest" });
    const checked = source.type === "backup";
    const problems = checked ? compareTables(source.backup.manifest.tables, stats) : [];
    return { location, stats, problems, checked, open, discard, settle };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Whether a plain SQL file loads rows with `COPY … FROM stdin` (read as a stream, statement by statement: a string or comment saying so does not count). */
async function copiesFromStdin(file: string): Promise<boolean> {
  for await (const part of splitSqlFile(file)) if (part.kind === "copy") return true;
  return false;
}

/** The refusal of a restore stopped (SIGTERM, SIGINT, its relayed caller gone) before its copy was swapped in. */
export const restoreStopped = () => new RestoreRefused("the restore was stopped before its copy was swapped in: the previous database serves and nothing was changed");

const damagedBackup = (id: string, problems: string[]) => new RestoreRefused(`backup ${id} is damaged; nothing was changed`, problems);

type LoadedCopy = Pick<ScratchCopy, "stats" | "open" | "discard" | "settle">;

/**
 * Loads the dump into a new PGlite directory or a new PostgreSQL database named `location`, and recounts it.
 * On PostgreSQL an aborted signal stops the load; PGlite loads in this process and runs to its end. A copy
 * whose load fails is removed.
 */
async function loadCopy(
  target: { context: PlatformContext; location: string; dumpFile: string; format: "sql" | "pg_dump-custom"; statsFormat: StatsFormat; work: string; converted: string },
  io: CommandIO,
  signal: AbortSignal,
): Promise<LoadedCopy> {
  const { context, location, dumpFile, format, statsFormat } = target;
  const url = context.config.database.url;
  if (!url) {
    // A PostgreSQL backup (custom format) moves into the embedded default through pg_restore's plain SQL.
    const loaded = format === "pg_dump-custom" ? await loadPgDumpIntoNewPgliteDir(dumpFile, target.converted, location, statsFormat) : await loadIntoNewPgliteDir(dumpFile, location, statsFormat);
    return {
      stats: loaded.stats,
      // Booting PGlite is slow: the loaded copy stays open for the migration step and is closed before the swap.
      open: async () => loaded.db,
      discard: async () => {
        await loaded.db.close().catch(() => undefined);
        await rm(location, { recursive: true, force: true });
      },
      settle: async () => undefined,
    };
  }
  // Leftovers of a killed restore or drill go first; a running one's copy is leased and stays.
  const abandoned = await dropAbandonedScratchDatabases(url);
  if (abandoned.length > 0) io.err(`Removed ${abandoned.length} scratch database(s) left by an interrupted restore or drill: ${abandoned.join(", ")}.`);
  // Leased before it exists, so a cleanup elsewhere never takes it for abandoned.
  const lease = await leaseScratchDatabase(url, location);
  const discard = async () => {
    try {
      await dropDatabase(url, location);
    } finally {
      await lease.release();
    }
  };
  try {
    signal.throwIfAborted();
    await createDatabase(url, location);
    const stats = await loadAndRecount(url, location, dumpFile, format, statsFormat, signal, target.work);
    return { stats, open: () => openPostgres(urlFor(url, location), 2), discard, settle: () => lease.release() };
  } catch (error) {
    await discard().catch(() => undefined);
    throw error;
  }
}

/** Whether a plain SQL file was written by pg_dump (its header, in the file's first 4 KiB). */
async function startsAsPgDump(file: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return /^-- PostgreSQL database dump$/m.test(head.subarray(0, bytesRead).toString("utf8"));
  } finally {
    await handle.close();
  }
}

/** Whether a plain SQL dump ends with pg_dump's "dump complete" line (read from the file's last 4 KiB). */
async function endsWithDumpComplete(file: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 4096);
    const tail = Buffer.alloc(length);
    await handle.read(tail, 0, length, size - length);
    return tail.toString("utf8").includes("-- PostgreSQL database dump complete");
  } finally {
    await handle.close();
  }
}
