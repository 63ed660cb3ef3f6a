import type { BlobStore } from "../../platform/blobs/blob-store.ts";
import type { StagedBlob } from "../../platform/blobs/staging.ts";
import type { Db } from "../../platform/db/db.ts";
import { createAttachmentsRepository, type AttachmentsRepository } from "./attachments.repository.ts";

/**
 * Keeps blobs and the rows that name them in step: a blob is stored before its row is written and removed
 * only once no row names it, each under the blob's lock (equal files share one blob).
 */
export function createBlobReferences(db: Db, blobs: BlobStore) {
  const references = {
    /** Stores the staged bytes and writes the row that references them, as one step. */
    async store<T>(staged: StagedBlob, writeRow: (attachments: AttachmentsRepository) => Promise<T>): Promise<T> {
      try {
        return await db.transaction(async (tx) => {
          const attachments = createAttachmentsRepository(tx);
          await attachments.lockBlob(staged.key);
          await blobs.put(staged.key, staged.path);
          return writeRow(attachments);
        });
      } catch (error) {
        // The row was not written: do not keep bytes nobody names (unless another row does).
        await references.release([staged.key]).catch(() => undefined);
        throw error;
      } finally {
        await staged.discard();
      }
    },
    /** Removes each blob that no row references any more; returns how many were removed. */
    async release(keys: Iterable<string>): Promise<number> {
      let removed = 0;
      for (const key of new Set(keys)) {
        const gone = await db.transaction(async (tx) => {
          const attachments = createAttachmentsRepository(tx);
          await attachments.lockBlob(key);
          if (await attachments.isBlobReferenced(key)) return false;
          await blobs.delete(key);
          return true;
        });
        if (gone) removed++;
      }
      return removed;
    },
  };
  return references;
}

export type BlobReferences = ReturnType<typeof createBlobReferences>;
