import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./cli.ts";

const exec = promisify(execFile);

/** Packs this tree as a release tarball (npm pack's layout: package/…), with its version and an optional change to one file. */
export async function packRelease(dir: string, version: string, patch?: { file: string; from: string; to: string }): Promise<string> {
  const staging = await mkdtemp(join(tmpdir(), "azora-release-"));
  const root = join(staging, "package");
  await mkdir(root);
  for (const entry of ["bin", "src", "migrations", "deployment", "package.json", "package-lock.json", "tsconfig.json"]) await cp(join(repoRoot, entry), join(root, entry), { recursive: true });
  const manifest = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  await writeFile(join(root, "package.json"), JSON.stringify({ ...manifest, version }, null, 2));
  if (patch) {
    const text = await readFile(join(root, patch.file), "utf8");
    if (!text.includes(patch.from)) throw new Error(`the release patch no longer applies to ${patch.file}`);
    await writeFile(join(root, patch.file), text.replace(patch.from, patch.to));
  }
  const tarball = join(dir, `azora-os-${version}.tgz`);
  await exec("tar", ["-czf", tarball, "-C", staging, "package"]);
  return tarball;
}
