import { randomBytes } from "node:crypto";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ManifestError, readManifest, type BackupKind, type Manifest } from "./manifest.ts";
import { readSideBackupStatus } from "./side-backup-status.ts";

/** Sub-directories of the store that hold config and content backups, not database backups. */
const OTHER_KINDS = new Set(["config", "content"]);

/** A backup as found on disk: its directory and its manifest. */
export interface StoredBackup {
  dir: string;
  manifest: Manifest;
}

/** Sortable, unique, readable: 20261128T020000Z-full-1a2b3c. */
export function newBackupId(kind: BackupKind, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${stamp}-${kind}-${randomBytes(3).toString("hex")}`;
}

/** Every complete backup (one with a valid manifest), newest first; directories still being written are skipped. */
export async function listBackups(root: string): Promise<StoredBackup[]> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const found: StoredBackup[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith(".") || OTHER_KINDS.has(entry.name)) continue;
    const dir = join(root, entry.name);
    try {
      found.push({ dir, manifest: await readManifest(dir) });
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
    }
  }
  return found.sort((a, b) => b.manifest.createdAt.localeCompare(a.manifest.createdAt) || b.manifest.id.localeCompare(a.manifest.id));
}

/** Directories in the store that look like backups but have no valid manifest (damaged or unfinished). */
export async function damagedBackups(root: string): Promise<{ dir: string; problem: string }[]> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const damaged: { dir: string; problem: string }[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith(".") || OTHER_KINDS.has(entry.name)) continue;
    const dir = join(root, entry.name);
    try {
      await readManifest(dir);
    } catch (error) {
      if (error instanceof ManifestError) damaged.push({ dir, problem: error.message });
      else throw error;
    }
  }
  return damaged;
}

/** What a restore was pointed at: a backup of the store or a directory holding a manifest, or a plain SQL file. */
export type RestoreSource = { type: "backup"; backup: StoredBackup } | { type: "sql"; file: string };

export class SourceNotFound extends Error {}

/** Resolves `latest`, a backup id, a backup directory (or its manifest.json), or a plain .sql file. */
export async function resolveSource(root: string, reference: string): Promise<RestoreSource> {
  if (reference === "latest") {
    const [latest] = await listBackups(root);
    if (!latest) throw new SourceNotFound(`there is no backup in ${root} yet: take one with azora backup full`);
    return { type: "backup", backup: latest };
  }
  if (/^[0-9TZ]+-[a-z]+-[0-9a-f]+$/.test(reference)) {
    const match = (await listBackups(root)).find((backup) => backup.manifest.id === reference);
    if (!match) throw new SourceNotFound(`no backup with the id ${reference} in ${root} (azora backup list shows them)`);
    return { type: "backup", backup: match };
  }
  const path = resolve(reference);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new SourceNotFound(`${path} does not exist: give a backup id, a backup directory, a .sql file or latest`);
  if (info.isDirectory()) return { type: "backup", backup: { dir: path, manifest: await readManifest(path) } };
  if (path.endsWith("manifest.json")) {
    const dir = resolve(path, "..");
    return { type: "backup", backup: { dir, manifest: await readManifest(dir) } };
  }
  if (path.endsWith(".sql")) return { type: "sql", file: path };
  throw new SourceNotFound(`${path} is neither a backup directory nor a .sql file`);
}

export interface RetentionPolicy {
  keepDaily: number;
  keepHourly: number;
}

/**
 * Which backups retention removes: it keeps the newest backup of each of the last keepHourly hours and of
 * each of the last keepDaily days (UTC), always the newest one, and every emergency backup.
 */
export function expiredBackups<Dated extends { id: string; createdAt: string; keep?: boolean }>(backups: Dated[], policy: RetentionPolicy, now: Date): Dated[] {
  const keep = new Set<string>();
  // Emergency backups are kept and do not take the hour's or the day's slot from a scheduled one.
  const newestFirst = [...backups].filter((manifest) => !manifest.keep).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (newestFirst[0]) keep.add(newestFirst[0].id);
  const hourMs = 3_600_000;
  const seenHours = new Set<string>();
  const seenDays = new Set<string>();
  for (const manifest of newestFirst) {
    const at = new Date(manifest.createdAt);
    const hour = manifest.createdAt.slice(0, 13);
    const day = manifest.createdAt.slice(0, 10);
    if (now.getTime() - at.getTime() < policy.keepHourly * hourMs && !seenHours.has(hour)) {
      seenHours.add(hour);
      keep.add(manifest.id);
    }
    if (now.getTime() - at.getTime() < policy.keepDaily * 24 * hourMs && !seenDays.has(day)) {
      seenDays.add(day);
      keep.add(manifest.id);
    }
  }
  return newestFirst.filter((manifest) => !keep.has(manifest.id));
}

/** Deletes what retention expires; returns their ids. */
export async function applyRetention(root: string, policy: RetentionPolicy, now: Date): Promise<string[]> {
  const backups = await listBackups(root);
  const expired = expiredBackups(backups.map((backup) => backup.manifest), policy, now);
  for (const manifest of expired) {
    const backup = backups.find((candidate) => candidate.manifest.id === manifest.id);
    if (backup) await rm(backup.dir, { recursive: true, force: true });
  }
  return expired.map((manifest) => manifest.id);
}

/** The outcome of the last restore drill, kept beside the backups it proved. */
export interface DrillRecord {
  at: string;
  backupId: string;
  ok: boolean;
  recoverySeconds: number;
  problems: string[];
}

const drillFile = (root: string) => join(root, ".drills.json");

export async function recordDrill(root: string, record: DrillRecord): Promise<void> {
  const history = await readDrills(root);
  history.unshift(record);
  await writeFile(drillFile(root), `${JSON.stringify(history.slice(0, 50), null, 2)}\n`, { mode: 0o600 });
}

export async function readDrills(root: string): Promise<DrillRecord[]> {
  try {
    return JSON.parse(await readFile(drillFile(root), "utf8")) as DrillRecord[];
  } catch {
    return [];
  }
}

/** What the backup metrics show: the newest backup of each kind (logical or pgBackRest, config, content) and the last drill that passed. */
export async function readBackupStatus(root: string, physical: Partial<Record<string, { at: string; sizeBytes: number; durationSeconds: number }>> = {}): Promise<{ latest: { kind: string; takenAt: number; sizeBytes: number; durationSeconds: number }[]; drillSucceededAt?: number }> {
  const latest = new Map<string, { kind: string; takenAt: number; sizeBytes: number; durationSeconds: number }>();
  for (const { manifest } of await listBackups(root)) {
    if (latest.has(manifest.kind)) continue;
    latest.set(manifest.kind, { kind: manifest.kind, takenAt: Date.parse(manifest.createdAt) / 1000, sizeBytes: manifest.sizeBytes, durationSeconds: manifest.durationSeconds });
  }
  for (const [kind, run] of Object.entries(physical)) {
    if (!run) continue;
    const takenAt = Date.parse(run.at) / 1000;
    if ((latest.get(kind)?.takenAt ?? 0) < takenAt) latest.set(kind, { kind, takenAt, sizeBytes: run.sizeBytes, durationSeconds: run.durationSeconds });
  }
  // Config and content backups have kinds of their own: BackupStale watches the database kinds only.
  for (const side of await readSideBackupStatus(root)) latest.set(side.kind, side);
  const drill = (await readDrills(root)).find((record) => record.ok);
  return drill ? { latest: [...latest.values()], drillSucceededAt: Date.parse(drill.at) / 1000 } : { latest: [...latest.values()] };
}
