import { execFileSync } from "node:child_process";

/** A release version: 1.2.3 or 1.2.3-rc.1 (an optional leading v is accepted and dropped). */
export function parseVersion(text: string): string | undefined {
  const match = /^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$/.exec(text.trim());
  return match?.[1];
}

/** Semantic-version order: negative when a < b. A pre-release sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const [coreA = "", preA] = a.split("-", 2);
  const [coreB = "", preB] = b.split("-", 2);
  const partsA = coreA.split(".").map(Number);
  const partsB = coreB.split(".").map(Number);
  for (let index = 0; index < 3; index++) {
    const difference = (partsA[index] ?? 0) - (partsB[index] ?? 0);
    if (difference !== 0) return difference;
  }
  if (preA === preB) return 0;
  if (preA === undefined) return 1;
  if (preB === undefined) return -1;
  return preA.localeCompare(preB, "en", { numeric: true });
}

/**
 * Versions this checkout knows: its package version and its git tags (v1.2.3 or 1.2.3). A version
 * that is in neither was never built from here, and its image probably does not exist.
 */
export function knownVersions(packageRoot: string, packageVersion: string): Set<string> {
  const known = new Set([packageVersion]);
  try {
    const tags = execFileSync("git", ["tag", "--list"], { cwd: packageRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 });
    for (const tag of tags.split("\n")) {
      const version = parseVersion(tag);
      if (version) known.add(version);
    }
  } catch {
    // Not a checkout (an installed package): the package version is all we know.
  }
  return known;
}
