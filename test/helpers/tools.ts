import { execFileSync } from "node:child_process";
import { isCi } from "../../src/platform/config.ts";

/** Whether a command-line tool is on PATH. */
export function hasTool(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Tests that need a Debian tool run where it is installed. Under CI a missing tool is a failure
 * (`.ci/run` installs it); elsewhere the suite is skipped and says which package brings the tool.
 */
export function toolAvailability(name: string, debianPackage: string): { run: boolean; reason: string } {
  if (hasTool(name)) return { run: true, reason: "" };
  if (isCi()) throw new Error(`${name} is missing under CI: .ci/run must apt-get install ${debianPackage}`);
  return { run: false, reason: `${name} not installed (apt-get install ${debianPackage})` };
}

/** Headless Chromium on this machine: no sandbox as root, and no background calls to a closed network. */
export const chromiumFlags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
