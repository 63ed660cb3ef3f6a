import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

export interface KindStatus {
  kind: string;
  takenAt: number;
  sizeBytes: number;
  durationSeconds: number;
}

/**
 * The newest config and content backups for the backup gauges (kind="config" and kind="content"). Both are
 * JSON files in DATA_DIR/backups/config and …/content whose names sort by time; only `createdAt`, the size
 * and the recorded duration are read here, so a file that is not one of them is skipped, not fatal.
 * Size: the sealed bundle's bytes for config; the attachment bytes the snapshot holds for content.
 */
export async function readSideBackupStatus(root: string): Promise<KindStatus[]> {
  const found: KindStatus[] = [];
  const config = await newest(join(root, "config"), /-config-[0-9a-f]+\.json$/);
  if (config) found.push({ kind: "config", takenAt: config.takenAt, sizeBytes: config.fileBytes, durationSeconds: config.durationSeconds });
  const content = await newest(join(root, "content"), /-content-[0-9a-f]+\.json$/);
  if (content) {
    const blobs = Array.isArray(content.document.blobs) ? (content.document.blobs as { bytes?: unknown }[]) : [];
    const bytes = blobs.reduce((total, blob) => total + (typeof blob.bytes === "number" ? blob.bytes : 0), 0);
    found.push({ kind: "content", takenAt: content.takenAt, sizeBytes: bytes, durationSeconds: content.durationSeconds });
  }
  return found;
}

async function newest(dir: string, pattern: RegExp) {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => pattern.test(name)).sort().reverse();
  for (const name of names) {
    try {
      const path = join(dir, name);
      const document = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
      const takenAt = Date.parse(String(document.createdAt)) / 1000;
      if (!Number.isFinite(takenAt)) continue;
      // Backups taken before the duration was recorded report 0 rather than no series.
      const durationSeconds = typeof document.durationSeconds === "number" ? document.durationSeconds : 0;
      return { takenAt, durationSeconds, document, fileBytes: (await stat(path)).size };
    } catch {
      continue;
    }
  }
  return undefined;
}
