import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isMap, isSeq, parseDocument } from "yaml";

/** The images that a release sets (docs/deployment.md: one image, three names). */
export const AZORA_IMAGES = ["azora/api-gateway", "azora/auth-service", "azora/user-service"];

export interface OverlayChange {
  overlay: string;
  file: string;
  /** Current tag of each Azora image in the overlay. */
  current: Record<string, string>;
  /** The file's text before and after. */
  before: string;
  after: string;
}

/** Reads each overlay's kustomization.yaml and sets newTag of the Azora images, keeping comments and layout. */
export async function planOverlayUpdate(overlaysDir: string, overlays: string[] | undefined, version: string): Promise<OverlayChange[] | string> {
  const names = overlays ?? (await readdir(overlaysDir).catch(() => [] as string[])).sort();
  if (names.length === 0) return `No overlays in ${overlaysDir} (expected ${join(overlaysDir, "{staging,production}/kustomization.yaml")}).`;
  const changes: OverlayChange[] = [];
  for (const overlay of names) {
    const file = join(overlaysDir, overlay, "kustomization.yaml");
    const before = await readFile(file, "utf8").catch(() => undefined);
    if (before === undefined) return `No ${file}.`;
    const document = parseDocument(before);
    const images = document.get("images");
    if (!isSeq(images)) return `${file} has no images: list.`;
    const current: Record<string, string> = {};
    for (const item of images.items) {
      if (!isMap(item)) continue;
      const name = String(item.get("name") ?? "");
      if (!AZORA_IMAGES.includes(name)) continue;
      current[name] = String(item.get("newTag") ?? "");
      item.set("newTag", version);
    }
    if (Object.keys(current).length === 0) return `${file} names none of ${AZORA_IMAGES.join(", ")} under images:.`;
    changes.push({ overlay, file, current, before, after: document.toString() });
  }
  return changes;
}

export async function applyOverlayUpdate(changes: OverlayChange[]): Promise<void> {
  for (const change of changes) if (change.before !== change.after) await writeFile(change.file, change.after);
}

/** A minimal unified diff of two texts that differ only in changed lines (a tag bump never adds or removes lines). */
export function lineDiff(file: string, before: string, after: string): string[] {
  const old = before.split("\n");
  const next = after.split("\n");
  const lines = [`--- ${file}`, `+++ ${file}`];
  const length = Math.max(old.length, next.length);
  for (let index = 0; index < length; index++) {
    if (old[index] === next[index]) continue;
    lines.push(`@@ line ${index + 1} @@`);
    if (old[index] !== undefined) lines.push(`-${old[index]}`);
    if (next[index] !== undefined) lines.push(`+${next[index]}`);
  }
  return lines.length > 2 ? lines : [];
}
