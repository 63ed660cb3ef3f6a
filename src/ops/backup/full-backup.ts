import { mkdir, open, rename, rm } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { reportProgress, type CommandIO } from "../../platform/command.ts";
import type { PlatformContext } from "../../platform/context.ts";
import { isEmbedded } from "../../platform/db/pglite.ts";
import { ownerTag } from "../../platform/process-identity.ts";
import { backupKey } from "./backup-key.ts";
import { applyRetention, newBackupId, type StoredBackup } from "./backup-store.ts";
import { MANIFEST_FILE, writeManifest, type BackupKind, type Manifest } from "./manifest.ts";
import { removeLeftovers } from "./leftovers.ts";
import { dumpEmbedded } from "./pglite-engine.ts";
import { dumpPostgres } from "./postgres-engine.ts";
import { sealFile, type WrittenFile } from "./sealed-file.ts";

const STEPS = 3;

/**
 * A logical full backup: dump (pg_dump custom format, or PGlite's own SQL dump), statistics of the same
 * snapshot, compression, encryption when a key is configured, and a manifest with every file's SHA-256.
 * The dump is streamed once through compression, encryption and hashing into its file (ADR 0320).
 * It is written under a hidden name and renamed when complete, so a crash never leaves a backup that lists.
 */
export async function takeFullBackup(context: PlatformContext, kind: Exclude<BackupKind, "incremental">, io: CommandIO): Promise<{ backup: StoredBackup; expired: string[] }> {
  const { config, db, clock } = context;
  await removeLeftovers(context, io);
  const started = clock.now();
  const root = config.paths.backups;
  const id = newBackupId(kind, new Date(started));
  const partial = join(root, `.partial-${ownerTag()}-${id}`);
  await mkdir(partial, { recursive: true, mode: 0o700 });
  try {
    const key = backupKey(config);
    const embedded = isEmbedded(db);
    // pg_dump's custom format is compressed already; the SQL text is gzipped.
    const dumpFile = `${embedded ? "database.sql.gz" : "database.pgdump"}${key ? ".enc" : ""}`;
    const sealing = { gzip: embedded, key: key?.key };
    const sealed = key ? (embedded ? "compressed and encrypted" : "encrypted") : embedded ? "compressed" : "stored";
    reportProgress(io, { done: 1, total: STEPS, label: `dumping the ${embedded ? "embedded" : "PostgreSQL"} database (${sealed} and checksummed as it is written)` });
    let dumped: { tables: Manifest["tables"]; schemaVersion: string; statsFormat: Manifest["format"] };
    let written: WrittenFile;
    if (embedded) {
      // PGlite's dump is written whole by its tool; it is then sealed in one pass, outside the exclusive section.
      const rawDump = join(partial, "dump.sql.raw");
      dumped = { ...(await dumpEmbedded(db, rawDump)), statsFormat: 1 };
      written = await sealFile(createReadStream(rawDump), join(partial, dumpFile), sealing);
      await rm(rawDump);
    } else {
      // pg_dump's output goes straight through encryption and SHA-256 into the file: one write, no re-read.
      const fromPgDump = await dumpPostgres(db, config.database.url ?? "", (dump) => sealFile(dump, join(partial, dumpFile), sealing));
      dumped = fromPgDump;
      written = fromPgDump.stored;
      if (fromPgDump.statsFallback) io.err(`The dump's table statistics were read with SQL instead (slower): ${fromPgDump.statsFallback}.`);
    }

    const bytes = written.bytes;
    const manifest: Manifest = {
      format: dumped.statsFormat,
      id,
      kind,
      createdAt: new Date(started).toISOString(),
      appVersion: config.version,
      engine: embedded ? "pglite" : "postgres",
      dump: { file: dumpFile, format: embedded ? "sql" : "pg_dump-custom", gzip: embedded },
      schemaVersion: dumped.schemaVersion,
      tables: dumped.tables,
      files: [{ name: dumpFile, bytes, sha256: written.sha256 }],
      encryption: key ? { algorithm: "aes-256-gcm", keySource: key.source, keyId: key.id } : null,
      sizeBytes: bytes,
      durationSeconds: (clock.now() - started) / 1000,
      keep: kind === "emergency",
    };
    await writeManifest(partial, manifest);

    reportProgress(io, { done: 2, total: STEPS, label: "storing" });
    // On disk before it lists, and before retention deletes older backups because of it: after a power
    // cut, a renamed directory whose dump was still in the page cache would be the newest backup, and empty.
    for (const path of [join(partial, dumpFile), join(partial, MANIFEST_FILE), partial]) await syncToDisk(path);
    const dir = join(root, id);
    await rename(partial, dir);
    await syncToDisk(root);

    reportProgress(io, { done: 3, total: STEPS, label: "applying retention" });
    const expired = await applyRetention(root, { keepDaily: config.backup.keepDaily, keepHourly: config.backup.keepHourly }, new Date(clock.now()));
    return { backup: { dir, manifest }, expired };
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
}

/** fsync of a file or a directory (a directory's entries: a rename is durable once its parent is synced). */
async function syncToDisk(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
