import { readdir, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { runTool } from "./postgres-tools.ts";

/** Processes whose argv is exactly `sleep DURATION` (a duration no other process uses). */
const sleepers = async (duration: string): Promise<number[]> => {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (argv[0]?.endsWith("sleep") && argv[1] === duration) found.push(Number(entry));
  }
  return found;
};

describe("runTool tied to this process", () => {
  // Aborted at once or within a few ms of the spawn: before, a SIGTERM that reached the sh before its trap
  // was set ended the sh and left the tool running (about 1 run in 100).
  it("an aborted run ends only once its tool has ended, however soon after the start it is aborted", async () => {
    const duration = `59.${process.pid}`;
    for (let run = 0; run < 40; run++) {
      const stop = new AbortController();
      const ran = runTool("sleep", [duration], { PATH: process.env.PATH }, stop.signal, { tiedToParent: true });
      if (run % 4 === 0) queueMicrotask(() => stop.abort());
      else setTimeout(() => stop.abort(), (run % 4) - 1);
      await expect(ran).rejects.toThrow(/sleep failed \(exit 143\)/);
      expect(await sleepers(duration)).toEqual([]);
    }
  }, 60_000);
});
