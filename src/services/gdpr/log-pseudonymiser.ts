import { open, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { maskEmail } from "../../platform/logger.ts";

/** What stands for the person in logs from now on, each replacement exactly as long as what it replaces. */
export interface Replacements {
  /** Lower-case needles (the id, the email) that mark a line as being about the person. */
  markers: string[];
  /** Every needle (lower case) and its same-length stand-in, applied inside marked lines. */
  pairs: [string, string][];
}

/**
 * Replacements for a person: their id, their email, its masked form and its keyed log stand-in (`account`,
 * see platform/log-account-key.ts), each by a same-length pseudonym.
 */
export function replacementsFor(subject: { id: string; email: string }, pseudonym: string, accountKey?: string): Replacements {
  const email = subject.email.toLowerCase();
  const masked = maskEmail(email).toLowerCase();
  const standIn = (needle: string) => sameLength(pseudonym, Buffer.byteLength(needle));
  return {
    markers: [subject.id.toLowerCase(), email, ...(accountKey ? [accountKey] : [])],
    pairs: [
      [subject.id.toLowerCase(), standIn(subject.id)],
      [email, standIn(email)],
      [masked, standIn(masked)],
      ...(accountKey ? ([[accountKey, standIn(accountKey)]] as [string, string][]) : []),
    ],
  };
}

/** The pseudonym cut or repeated to `length` bytes (ASCII), so lines keep their byte offsets. */
export function sameLength(pseudonym: string, length: number): string {
  if (length < 7) return "*".repeat(length);
  return pseudonym.repeat(Math.ceil(length / pseudonym.length)).slice(0, length);
}

/**
 * Rewrites the person out of every log file under `dir`. Plain files are changed in place, byte for byte
 * at the same offsets, because a running process keeps appending to them through its open descriptor
 * (a renamed copy would lose its later lines); compressed, rotated files are rewritten whole. Lines are
 * searched as Latin-1 so character and byte positions agree, and case-insensitively.
 * Returns how many lines were changed (or would be, with dryRun).
 */
export async function pseudonymiseLogs(dir: string, replacements: Replacements, dryRun: boolean): Promise<{ files: number; lines: number }> {
  let files = 0;
  let lines = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!/\.log(\.\d+)?(\.gz)?$/.test(name)) continue;
    const path = join(dir, name);
    const changed = name.endsWith(".gz") ? await rewriteCompressed(path, replacements, dryRun) : await rewriteInPlace(path, replacements, dryRun);
    if (changed > 0) files++;
    lines += changed;
  }
  return { files, lines };
}

/** Lines of the file (Latin-1 text) that are about the person, for exports. */
export async function linesAbout(dir: string, markers: string[]): Promise<{ file: string; line: string }[]> {
  const found: { file: string; line: string }[] = [];
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (!/\.log(\.\d+)?(\.gz)?$/.test(name)) continue;
    let bytes = await readFile(join(dir, name));
    if (name.endsWith(".gz")) bytes = gunzipSync(bytes);
    for (const line of bytes.toString("utf8").split("\n")) {
      const lower = line.toLowerCase();
      if (markers.some((marker) => lower.includes(marker))) found.push({ file: name, line });
    }
  }
  return found;
}

/** Lower case for ASCII letters only: on Latin-1 text holding UTF-8 bytes, toLowerCase() would change those bytes. */
const asciiLower = (text: string) => text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());

function rewriteLine(line: string, replacements: Replacements): string | undefined {
  const lower = asciiLower(line);
  if (!replacements.markers.some((marker) => lower.includes(Buffer.from(marker, "utf8").toString("latin1")))) return undefined;
  let result = line;
  for (const [needle, standIn] of replacements.pairs) {
    const latin1Needle = Buffer.from(needle, "utf8").toString("latin1");
    let at = asciiLower(result).indexOf(latin1Needle);
    while (at >= 0) {
      result = result.slice(0, at) + standIn + result.slice(at + latin1Needle.length);
      at = asciiLower(result).indexOf(latin1Needle, at + standIn.length);
    }
  }
  return result === line ? undefined : result;
}

async function rewriteInPlace(path: string, replacements: Replacements, dryRun: boolean): Promise<number> {
  const handle = await open(path, "r+");
  let changed = 0;
  try {
    // Only what is there now: lines appended while this runs are written by loggers that no longer know the person.
    const { size } = await handle.stat();
    const chunkSize = 4 * 1024 * 1024;
    let offset = 0;
    let carry = "";
    while (offset < size) {
      const buffer = Buffer.alloc(Math.min(chunkSize, size - offset));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) break;
      const text = carry + buffer.subarray(0, bytesRead).toString("latin1");
      const textStart = offset - carry.length;
      offset += bytesRead;
      const lastNewline = offset >= size ? text.length : text.lastIndexOf("\n") + 1;
      carry = text.slice(lastNewline);
      let lineStart = 0;
      for (const line of text.slice(0, lastNewline).split("\n")) {
        const rewritten = rewriteLine(line, replacements);
        if (rewritten !== undefined) {
          changed++;
          if (!dryRun) await handle.write(Buffer.from(rewritten, "latin1"), 0, line.length, textStart + lineStart);
        }
        lineStart += line.length + 1;
      }
    }
    if (!dryRun && changed > 0) await handle.sync();
  } finally {
    await handle.close();
  }
  return changed;
}

async function rewriteCompressed(path: string, replacements: Replacements, dryRun: boolean): Promise<number> {
  const text = gunzipSync(await readFile(path)).toString("latin1");
  let changed = 0;
  const lines = text.split("\n").map((line) => {
    const rewritten = rewriteLine(line, replacements);
    if (rewritten === undefined) return line;
    changed++;
    return rewritten;
  });
  if (!dryRun && changed > 0) {
    const temporary = `${path}.gdpr-tmp`;
    try {
      await writeFile(temporary, gzipSync(Buffer.from(lines.join("\n"), "latin1")), { mode: 0o640 });
      await rename(temporary, path);
    } finally {
      await rm(temporary, { force: true });
    }
  }
  return changed;
}
