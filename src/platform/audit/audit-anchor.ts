import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The newest row this installation appended, kept outside the database: a chain alone cannot show that its
 * last rows were deleted, since what remains is still a valid chain. verify checks the table still holds it.
 */
export interface AuditAnchor {
  seq: number;
  hash: string;
}

const anchorFile = (stateDir: string) => join(stateDir, "audit-head.json");

export async function readAnchor(stateDir: string): Promise<AuditAnchor | undefined> {
  try {
    const parsed = JSON.parse(await readFile(anchorFile(stateDir), "utf8")) as AuditAnchor;
    return Number.isInteger(parsed.seq) && typeof parsed.hash === "string" ? parsed : undefined;
  } catch {
    return undefined;
  }
}

// Writes from one process go one at a time: concurrent appends must not race on read-compare-rename.
let writing: Promise<void> = Promise.resolve();

/** Moves the anchor forward (never back: appends may finish out of order); `force` sets it after a restore. */
export function writeAnchor(stateDir: string, anchor: AuditAnchor, force = false): Promise<void> {
  const next = writing.then(() => write(stateDir, anchor, force));
  writing = next.catch(() => undefined);
  return next;
}

async function write(stateDir: string, anchor: AuditAnchor, force: boolean): Promise<void> {
  if (!force) {
    const current = await readAnchor(stateDir);
    if (current && current.seq >= anchor.seq) return;
  }
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const temporary = `${anchorFile(stateDir)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temporary, `${JSON.stringify(anchor)}\n`, { mode: 0o600 });
  await rename(temporary, anchorFile(stateDir));
}
