import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

export const backupKinds = ["full", "incremental", "emergency"] as const;
export type BackupKind = (typeof backupKinds)[number];

const tableStats = z.object({ name: z.string(), rows: z.number().int().nonnegative(), checksum: z.string() });
export type TableStats = z.infer<typeof tableStats>;

/**
 * How `tables[].checksum` was computed: 1 over each row's `row::text` in SQL (the embedded engine, and
 * PostgreSQL backups before ADR 0460), 2 over each row's COPY text line, read from pg_dump's stream.
 * A restore recomputes the checksums the same way on the restored copy.
 */
export const statsFormats = [1, 2] as const;
export type StatsFormat = (typeof statsFormats)[number];

const fileEntry = z.object({ name: z.string().regex(/^[A-Za-z0-9._-]+$/), bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
export type FileEntry = z.infer<typeof fileEntry>;

/** What a backup holds and how to check it; written last, so a backup without one is incomplete. */
export const manifestSchema = z
  .object({
    format: z.union([z.literal(1), z.literal(2)]),
    id: z.string().regex(/^[0-9TZ]+-[a-z]+-[0-9a-f]+$/),
    kind: z.enum(backupKinds),
    createdAt: z.iso.datetime(),
    appVersion: z.string(),
    /** The engine the backup was taken on: its dump format follows from it. */
    engine: z.enum(["pglite", "postgres"]),
    dump: z.object({ file: z.string(), format: z.enum(["sql", "pg_dump-custom"]), gzip: z.boolean() }),
    schemaVersion: z.string(),
    tables: z.array(tableStats),
    files: z.array(fileEntry),
    encryption: z.object({ algorithm: z.literal("aes-256-gcm"), keySource: z.enum(["BACKUP_KEY", "AZORA_MASTER_KEY"]), keyId: z.string() }).nullable(),
    sizeBytes: z.number().int().nonnegative(),
    durationSeconds: z.number().nonnegative(),
    /** Emergency backups are exempt from retention. */
    keep: z.boolean(),
  })
  // The dump a restore loads must be one of the files whose checksum it checks first.
  .refine((manifest) => manifest.files.some((file) => file.name === manifest.dump.file), { path: ["dump", "file"], message: "is not one of the files the manifest lists with a checksum" });
export type Manifest = z.infer<typeof manifestSchema>;

export const MANIFEST_FILE = "manifest.json";

export class ManifestError extends Error {}

/** Reads and checks a manifest; a missing or malformed one is a ManifestError naming the file. */
export async function readManifest(dir: string): Promise<Manifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new ManifestError(`${path} is missing: the backup is incomplete or this is not a backup directory`);
  }
  return parseManifest(text, path);
}

/** Checks a manifest's text (read from disk or downloaded); `where` names it in the error. */
export function parseManifest(text: string, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ManifestError(`${where} is not valid JSON (damaged)`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new ManifestError(`${where} is not a valid manifest: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
}

/** Tables whose row count or checksum differ between two sets of statistics, described for a person. */
export function compareTables(expected: TableStats[], actual: TableStats[]): string[] {
  const problems: string[] = [];
  const found = new Map(actual.map((table) => [table.name, table]));
  for (const table of expected) {
    const other = found.get(table.name);
    if (!other) problems.push(`table ${table.name} is missing`);
    else if (other.rows !== table.rows) problems.push(`table ${table.name}: ${other.rows} rows, expected ${table.rows}`);
    else if (other.checksum !== table.checksum) problems.push(`table ${table.name}: content checksum differs`);
  }
  return problems;
}
