import type { ContentItem, ContentRepository } from "./content.repository.ts";

export type ItemResult = { ok: true; item: ContentItem } | { ok: false; reason: "not_found" };

/**
 * Content belongs to its owner; an admin reaches everyone's. Someone else's item answers "not found"
 * rather than "forbidden", so ids cannot be probed.
 */
export function createContentService(deps: {
  content: ContentRepository;
  isAdmin: (userId: string) => Promise<boolean>;
  /** The attached files' blobs, released when their content goes (the rows go with it by cascade). */
  attachmentBlobs?: { keysOfContent(contentId: string): Promise<string[]>; release(keys: string[]): Promise<number> };
}) {
  const { content } = deps;

  async function reachable(callerId: string, id: string): Promise<ContentItem | undefined> {
    const item = await content.findById(id);
    if (!item) return undefined;
    if (item.ownerId === callerId || (await deps.isAdmin(callerId))) return item;
    return undefined;
  }

  return {
    create: (ownerId: string, input: { title: string; body: string }) => content.insert({ ownerId, ...input }),
    list: (ownerId: string, page: { limit: number; offset: number }) => content.listByOwner(ownerId, page.limit, page.offset),
    async read(callerId: string, id: string): Promise<ItemResult> {
      const item = await reachable(callerId, id);
      return item ? { ok: true, item } : { ok: false, reason: "not_found" };
    },
    async replace(callerId: string, id: string, input: { title: string; body: string }): Promise<ItemResult> {
      if (!(await reachable(callerId, id))) return { ok: false, reason: "not_found" };
      const item = await content.update(id, input);
      return item ? { ok: true, item } : { ok: false, reason: "not_found" };
    },
    async remove(callerId: string, id: string): Promise<boolean> {
      if (!(await reachable(callerId, id))) return false;
      const blobKeys = (await deps.attachmentBlobs?.keysOfContent(id)) ?? [];
      const deleted = await content.delete(id);
      if (deleted && blobKeys.length > 0) await deps.attachmentBlobs?.release(blobKeys);
      return deleted;
    },
    /** The item when the caller may reach it (owner or admin). */
    reachable,
  };
}

export type ContentService = ReturnType<typeof createContentService>;
