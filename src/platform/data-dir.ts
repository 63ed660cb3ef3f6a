import { access } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "./config.ts";

/** Whether DATA_DIR holds an embedded database (PostgreSQL's PG_VERSION marks an initialised cluster). */
export async function embeddedDataExists(config: Config): Promise<boolean> {
  try {
    await access(join(config.paths.pg, "PG_VERSION"));
    return true;
  } catch {
    return false;
  }
}

/** What to tell an operator who ran a command where there is no data: where we looked and how to point at it. */
export function missingDataMessage(config: Config): string {
  return [
    `No Azora OS data in ${config.dataDir} (looked for the embedded database in ${config.paths.pg}; the working directory is ${process.cwd()}).`,
    "Run the command from the directory where azora up runs, or point it at the data: DATA_DIR=/path/to/data azora ...",
    "Against PostgreSQL, set DATABASE_URL instead. A new installation is created by azora up or azora migrate.",
  ].join("\n");
}
