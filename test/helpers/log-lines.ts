import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";

/** Every line of a stream's log files in dir, current and rotated (gunzipped), in no particular order. */
export async function allLogLines(dir: string, stream: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((name) => name === `${stream}.log` || name.startsWith(`${stream}.log.`) || name.startsWith(`${stream}.log-`));
  const lines: string[] = [];
  for (const name of names) {
    let bytes = await readFile(join(dir, name));
    if (name.endsWith(".gz")) bytes = gunzipSync(bytes);
    lines.push(...bytes.toString("utf8").split("\n").filter(Boolean));
  }
  return lines;
}

/** Sends `count` requests to distinct paths under prefix, `concurrency` at a time, until done or stopped. */
export function probeLoad(baseUrl: string, prefix: string, concurrency = 4) {
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped) {
      const index = next++;
      const response = await fetch(new URL(`${prefix}/${index}`, baseUrl));
      await response.arrayBuffer();
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    /** Stops sending and resolves with how many requests were answered. */
    async stop(): Promise<number> {
      stopped = true;
      await Promise.all(workers);
      return next;
    },
    sent: () => next,
  };
}
