import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

/**
 * bench:auth leaves nothing behind when it cannot start: a PostgreSQL it cannot reach ends the run with a non-zero
 * exit, its temporary DATA_DIR removed, and the URL's password in none of its output.
 */
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function runBench(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [join("bin", "run-ts.js"), join("bench", "auth.bench.ts")], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, output })));
}

describe("bench:auth on a backend it cannot reach", () => {
  it("exits non-zero, removes its temporary DATA_DIR and prints no password", async () => {
    const tmp = await mkdtemp(join(tmpdir(), "azora-bench-cleanup-"));
    dirs.push(tmp);
    // Port 1: nothing listens there, so provisioning the run's database fails at once.
    const { code, output } = await runBench({
      TMPDIR: tmp,
      DATABASE_URL: "postgres://postgres:bench-secret-pw@127.0.0.1:1/test",
      REDIS_URL: "redis://127.0.0.1:1",
    });
    expect(code).not.toBe(0);
    expect(output).toMatch(/ECONNREFUSED/);
    expect(output).not.toContain("bench-secret-pw");
    // (tsx keeps its cache in TMPDIR too: only the bench's own directory counts.)
    expect((await readdir(tmp)).filter((name) => name.startsWith("azora-bench-auth-"))).toEqual([]);
  }, 60_000);
});
