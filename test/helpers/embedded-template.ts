import { existsSync, readFileSync } from "node:fs";
import { cp, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPglite } from "../../src/platform/db/pglite.ts";

/**
 * An empty embedded database cluster, as PGlite's initdb leaves it, made once per machine and PGlite version
 * and copied into each test platform's DATA_DIR/pg. initdb inside WASM costs 6–12 s of CPU per platform
 * (measured: a whole in-process platform start took 13 s of CPU fresh, 7 s on a copied cluster) and suites
 * start over a hundred embedded platforms. Opening an existing cluster is what `azora up` does on every
 * start after the first; migrations, keys and secrets are still made by the platform itself. Child
 * processes (`azora up`, the CLI on a new DATA_DIR) keep starting from an empty directory.
 */
const pgliteVersion = (JSON.parse(readFileSync(new URL("../../node_modules/@electric-sql/pglite/package.json", import.meta.url), "utf8")) as { version: string }).version;
const templateDir = join(tmpdir(), `azora-test-pglite-${pgliteVersion}-empty-cluster`);

let made: Promise<string> | undefined;

/** The template's path, made on first use. Concurrent test processes may each make one; the first rename wins. */
function template(): Promise<string> {
  made ??= (async () => {
    if (existsSync(templateDir)) return templateDir;
    const work = await mkdtemp(join(tmpdir(), "azora-test-pglite-template-"));
    try {
      // Made with sync off: the platform that opens a copy syncs every file first (syncTree), as after a restore.
      const db = await openPglite(join(work, "pg"), { sync: "off" });
      await db.close();
      // Whole or not at all: a cluster appears under the template's name only after its clean shutdown.
      await rename(join(work, "pg"), templateDir).catch((error: NodeJS.ErrnoException) => {
        if (!existsSync(templateDir)) throw error;
      });
      return templateDir;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  })();
  return made;
}

/** Puts an empty embedded cluster at `pgDir` (a DATA_DIR's pg/) unless one is there, so the platform opening it skips initdb. */
export async function seedEmbeddedCluster(pgDir: string): Promise<void> {
  if (existsSync(pgDir)) return;
  await cp(await template(), pgDir, { recursive: true });
}
