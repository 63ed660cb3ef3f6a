import { appendFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Point } from "./projection.ts";

/** What a review records of values that have no history in the database (its size, connections in use). */
interface Snapshot {
  at: number;
  dbBytes: number;
  connections?: number;
}

const file = (stateDir: string) => join(stateDir, "capacity-history.jsonl");

/** Earlier reviews' snapshots, oldest first; the database size projects from them (two reviews are needed). */
export async function readSnapshots(stateDir: string): Promise<Snapshot[]> {
  const text = await readFile(file(stateDir), "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Snapshot];
      } catch {
        return [];
      }
    });
}

export async function appendSnapshot(stateDir: string, snapshot: Snapshot): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await appendFile(file(stateDir), `${JSON.stringify(snapshot)}\n`, { mode: 0o600 });
}

export const series = (snapshots: Snapshot[], pick: (snapshot: Snapshot) => number | undefined): Point[] =>
  snapshots.flatMap((snapshot) => {
    const value = pick(snapshot);
    return value === undefined ? [] : [{ at: snapshot.at, value }];
  });
