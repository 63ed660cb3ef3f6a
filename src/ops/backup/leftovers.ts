import { readdir, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { CommandIO } from "../../platform/command.ts";
import type { PlatformContext } from "../../platform/context.ts";
import { ownerIsGone } from "../../platform/process-identity.ts";
import { adoptInterruptedErasures } from "./content-erasure.ts";
import { contentRoot } from "./content-lock.ts";
import { dropAbandonedScratchDatabases } from "./scratch-databases.ts";

/** Entries of a directory that a dead process left, matching a name pattern; removed unless dryRun. */
async function removeLeftBehind(dir: string, pattern: RegExp): Promise<string[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => pattern.test(name) && ownerIsGone(name));
  for (const name of names) await rm(join(dir, name), { recursive: true, force: true });
  return names.map((name) => join(dir, name));
}

/**
 * What a killed backup, restore or drill left, taken away at the start of the next one (ADR 0451): its working
 * directories in DATA_DIR/backups (`.partial-…`, `.fetch-…`, `.work-…`, the last a decrypted dump), the files
 * it was staging for a blob store (`.staging/*.part`), an embedded copy it was loading (`pg.restore-…`,
 * `pg.drill-…`), and on PostgreSQL its scratch databases. Each name carries its maker's process identity and
 * only those whose maker no longer runs go, so a backup or restore at work elsewhere keeps its files; scratch
 * databases go by their lease (ADR 0261). An erasure that died writing its pending file is taken over, not
 * removed. Says what it removed on stderr.
 */
export async function removeLeftovers(context: Pick<PlatformContext, "config">, io: CommandIO): Promise<string[]> {
  const { paths, database } = context.config;
  const removed = [
    ...(await removeLeftBehind(paths.backups, /^\.(partial|fetch|work)-/)),
    ...(await removeLeftBehind(join(paths.blobs, ".staging"), /\.part$/)),
    ...(await removeLeftBehind(join(contentRoot(context), "blobs", ".staging"), /\.part$/)),
    ...(await removeLeftBehind(dirname(paths.pg), new RegExp(`^${escape(basename(paths.pg))}\\.(restore|drill)-`))),
  ];
  // A database user that may not reach the maintenance database only misses this cleanup (as at start).
  const dropped = database.url ? await dropAbandonedScratchDatabases(database.url).catch(() => [] as string[]) : [];
  const adopted = await adoptInterruptedErasures(context);
  if (removed.length > 0) io.err(`Removed ${removed.length} leftover(s) of an interrupted backup, restore or drill: ${removed.join(", ")}.`);
  // In the words a restore or drill has always used for them (docs/backups.md).
  if (dropped.length > 0) io.err(`Removed ${dropped.length} scratch database(s) left by an interrupted restore or drill: ${dropped.join(", ")}.`);
  if (adopted > 0) io.err(`${adopted} erasure(s) interrupted while recording their files for the content backups were taken over.`);
  return [...removed, ...dropped.map((name) => `database ${name}`)];
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
