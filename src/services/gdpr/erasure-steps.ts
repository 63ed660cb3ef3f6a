import type { PlatformContext } from "../../platform/context.ts";
import { ACTIVE_USERS_SET } from "../../platform/active-users.ts";
import { recordInvalidations } from "../../platform/cache/invalidation-log.repository.ts";
import type { BlobReferences } from "../users/blob-references.ts";
import { userCacheKey } from "../users/users.service.ts";
import { createDeletionLedgerRepository, type LedgerEntry } from "./deletion-ledger.repository.ts";
import { createGdprRepository, type ErasedRows } from "./gdpr.repository.ts";

/**
 * Deletes the person's rows and records the ledger entry in one transaction, so the database never holds
 * the one without the other. Returns the blob keys their attachments used (to release afterwards).
 */
export async function eraseRowsOf(context: Pick<PlatformContext, "db">, userId: string, entry: LedgerEntry | undefined): Promise<{ rows: ErasedRows; blobKeys: string[] }> {
  return context.db.transaction(async (tx) => {
    const gdpr = createGdprRepository(tx);
    const blobKeys = await gdpr.blobKeysOf(userId);
    const rows = await gdpr.eraseRows(userId);
    // The cached profile is invalidated like any write's: every serving process replays this row into its
    // cache, so a profile a failed delete left in Redis is dropped before that cache is trusted again.
    await recordInvalidations(tx, [userCacheKey(userId)]);
    if (entry) await createDeletionLedgerRepository(tx).insert(entry);
    return { rows, blobKeys };
  });
}

/** What follows the rows: blobs nobody else uses, the cached profile and the active-users entry. */
export async function finishErasure(context: Pick<PlatformContext, "cache" | "coherentCache">, userId: string, blobKeys: string[], references: BlobReferences): Promise<{ blobsRemoved: number }> {
  const blobsRemoved = await references.release(blobKeys);
  // Best effort: the rows (and the profile's invalidation) are committed, so a cache that fails here must
  // not fail the erasure (the logs and mail still have to be pseudonymised after it); the replay of the
  // invalidation log drops the profile once the cache is back. The active-users entry ages out of its window.
  await context.coherentCache.invalidate(userCacheKey(userId));
  await context.cache.forget(ACTIVE_USERS_SET, userId).catch(() => undefined);
  return { blobsRemoved };
}
