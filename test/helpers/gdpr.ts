import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { CommandIO } from "../../src/platform/command.ts";
import type { Queryable } from "../../src/platform/db/db.ts";

/** Collects a command's output lines. */
export function captureIO(): CommandIO & { outText(): string; errText(): string } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (text) => out.push(text), err: (text) => err.push(text), outText: () => out.join("\n"), errText: () => err.join("\n") };
}

/** Every table and column (as text) in which the needle appears, case-insensitively: "table" per hit. */
export async function tablesHolding(db: Queryable, needle: string): Promise<string[]> {
  const tables = await db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
  );
  const hits: string[] = [];
  for (const { table_name: table } of tables) {
    const rows = await db.query<{ n: string }>(`SELECT count(*) AS n FROM "${table}" AS t WHERE strpos(lower(t::text), lower($1)) > 0`, [needle]);
    if (Number(rows[0]?.n) > 0) hits.push(table);
  }
  return hits;
}

/** Files under dir (recursively) whose bytes (gunzipped for .gz) contain the needle, case-insensitively. */
export async function filesHolding(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    let bytes = await readFile(path);
    if (path.endsWith(".gz")) bytes = gunzipSync(bytes);
    if (bytes.toString("latin1").toLowerCase().includes(needle.toLowerCase())) hits.push(path);
  }
  return hits;
}

/** Unpacks a .tar.gz with the real tar and checks it with the real sha256sum; returns the directory. */
export async function unpackAndVerify(archive: string | Buffer): Promise<{ dir: string; sums: string }> {
  const dir = await mkdtemp(join(tmpdir(), "azora-export-"));
  if (typeof archive === "string") execFileSync("tar", ["-xzf", archive, "-C", dir]);
  else execFileSync("tar", ["-xzf", "-", "-C", dir], { input: archive });
  const sums = execFileSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: dir, encoding: "utf8" });
  return { dir, sums };
}
