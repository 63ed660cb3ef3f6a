import { randomUUID } from "node:crypto";
import { mkdir, open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { PlatformContext } from "../../platform/context.ts";
import { LogEvent } from "../../platform/log-events.ts";
import { createDeletionLedgerRepository, type LedgerEntry } from "./deletion-ledger.repository.ts";
import { eraseRowsOf, finishErasure } from "./erasure-steps.ts";
import { createGdprRepository } from "./gdpr.repository.ts";
import { createBlobReferences } from "../users/blob-references.ts";
import { userCacheKey } from "../users/users.service.ts";
import { ACTIVE_USERS_SET } from "../../platform/active-users.ts";
import type { Db } from "../../platform/db/db.ts";

export type { LedgerEntry };

/** The ledger's copy outside the database: a restore replaces the database, never this file. */
export const LEDGER_FILE = "gdpr-deletion-ledger.jsonl";
export const ledgerFilePath = (stateDir: string) => join(stateDir, LEDGER_FILE);

const entrySchema = z.object({
  id: z.uuid(),
  subjectHash: z.string().regex(/^[0-9a-f]{64}$/),
  pseudonym: z.string().min(1),
  erasedAt: z.string(),
  requestedBy: z.enum(["operator", "self-service"]),
  summary: z.record(z.string(), z.number()),
});

/** A new ledger entry for an erasure happening now. */
export function newLedgerEntry(subjectHash: string, pseudonym: string, at: Date, requestedBy: LedgerEntry["requestedBy"], summary: Record<string, number>): LedgerEntry {
  return { id: randomUUID(), subjectHash, pseudonym, erasedAt: at.toISOString(), requestedBy, summary };
}

/** Appends an entry to the ledger file and flushes it to disk before the erasure starts. */
export async function appendLedgerFile(stateDir: string, entry: LedgerEntry): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const handle = await open(ledgerFilePath(stateDir), "a", 0o600);
  try {
    await handle.write(`${JSON.stringify(entry)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The entries of the ledger file (a line cut by a crash is skipped, and named in `damaged`). */
export async function readLedgerFile(stateDir: string): Promise<{ entries: LedgerEntry[]; damaged: number }> {
  let text: string;
  try {
    text = await readFile(ledgerFilePath(stateDir), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { entries: [], damaged: 0 };
    throw error;
  }
  const entries: LedgerEntry[] = [];
  let damaged = 0;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      entries.push(entrySchema.parse(JSON.parse(line)));
    } catch {
      damaged++;
    }
  }
  return { entries, damaged };
}

/** The ledger as the live database holds it; a restore reads it before it replaces the database. */
export async function readDeletionLedger(context: Pick<PlatformContext, "db">): Promise<LedgerEntry[]> {
  const ledger = createDeletionLedgerRepository(context.db);
  return (await ledger.exists()) ? ledger.list() : [];
}

export interface ReplayReport {
  /** Distinct erasures known (database, ledger file and carried entries together). */
  entries: number;
  /** Entries written into the database's ledger table because it lacked them. */
  recorded: number;
  /** Accounts found again (restored from before their erasure) and erased again. */
  erasedAgain: number;
  /** Blobs no row references any more, removed. */
  blobsRemoved: number;
}

/**
 * Replays every recorded erasure on the database in `context`: after a restore, anyone erased since the
 * backup was taken is erased again, their ledger entries are put back, and blobs nobody references are
 * removed. Idempotent; safe on a live database. `carried` are entries read (readDeletionLedger) from the
 * database that the restore replaced. The restored database must be migrated first.
 */
export async function replayDeletionLedger(context: PlatformContext, carried: LedgerEntry[] = []): Promise<ReplayReport> {
  const ledger = createDeletionLedgerRepository(context.db);
  if (!(await ledger.exists())) {
    throw new Error("The database has no gdpr_deletion_ledger table: run the migrations (azora migrate) before replaying the deletion ledger.");
  }
  const fromFile = await readLedgerFile(context.config.paths.state);
  const inDatabase = await ledger.list();
  const bySubject = new Map<string, LedgerEntry>();
  for (const entry of [...inDatabase, ...fromFile.entries, ...carried]) if (!bySubject.has(entry.subjectHash)) bySubject.set(entry.subjectHash, entry);

  let recorded = 0;
  for (const entry of bySubject.values()) if (await ledger.insert(entry)) recorded++;

  const gdpr = createGdprRepository(context.db);
  const references = createBlobReferences(context.db, context.blobs);
  const found = await gdpr.usersWithIdHash([...bySubject.keys()]);
  let blobsRemoved = 0;
  for (const userId of found) {
    const { blobKeys } = await eraseRowsOf(context, userId, undefined);
    blobsRemoved += (await finishErasure(context, userId, blobKeys, references)).blobsRemoved;
    // Their copies in the content backup pool go as well (ADR 0332); loaded here, as in eraseSubject.
    await (await import("../../ops/backup/content-erasure.ts")).forgetInContentBackups(context, blobKeys);
  }
  // A content restore may also have brought back files whose rows are gone.
  blobsRemoved += await sweepUnreferencedBlobs(context);
  if (found.length > 0 || recorded > 0) {
    context.logs.security.info({ event: LogEvent.GDPR_LEDGER_REPLAYED, entries: bySubject.size, recorded, erasedAgain: found.length }, "deletion ledger replayed");
  }
  return { entries: bySubject.size, recorded, erasedAgain: found.length, blobsRemoved };
}

/**
 * The part of a replay that must happen before a restored copy serves: the ledger entries go back into
 * the copy and everyone erased since the backup was taken loses their rows (and cached profile) in it.
 * Their blob keys are returned, to release once the copy serves: until then the live database may still name them.
 */
export async function replayLedgerOnCopy(
  context: Pick<PlatformContext, "config" | "cache">,
  copy: Db,
  carried: LedgerEntry[],
): Promise<{ entries: number; recorded: number; erasedAgain: number; blobKeys: string[] }> {
  const ledger = createDeletionLedgerRepository(copy);
  const fromFile = await readLedgerFile(context.config.paths.state);
  const bySubject = new Map<string, LedgerEntry>();
  for (const entry of [...(await ledger.list()), ...fromFile.entries, ...carried]) if (!bySubject.has(entry.subjectHash)) bySubject.set(entry.subjectHash, entry);
  let recorded = 0;
  for (const entry of bySubject.values()) if (await ledger.insert(entry)) recorded++;
  const found = await createGdprRepository(copy).usersWithIdHash([...bySubject.keys()]);
  const blobKeys: string[] = [];
  for (const userId of found) {
    blobKeys.push(...(await eraseRowsOf({ db: copy }, userId, undefined)).blobKeys);
    // eraseRowsOf recorded the profile's invalidation in the copy: the services replay it once it serves.
    await context.cache.del(userCacheKey(userId)).catch(() => undefined);
    await context.cache.forget(ACTIVE_USERS_SET, userId).catch(() => undefined);
  }
  return { entries: bySubject.size, recorded, erasedAgain: found.length, blobKeys };
}

/** Removes every stored blob that no attachment row references (each checked under its lock). */
export async function sweepUnreferencedBlobs(context: Pick<PlatformContext, "db" | "blobs">): Promise<number> {
  const keys: string[] = [];
  for await (const key of context.blobs.list()) keys.push(key);
  return createBlobReferences(context.db, context.blobs).release(keys);
}
