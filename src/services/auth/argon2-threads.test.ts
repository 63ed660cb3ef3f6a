import { describe, expect, it } from "vitest";
import { createArgon2Threads } from "./argon2-threads.ts";
import { createWorkQueue } from "./argon2-queue.ts";

const fixture = (name: string) => new URL(`./test-fixtures/${name}`, import.meta.url);
const verifyTask = { kind: "verify", phc: "unused", password: "unused" } as const;

/** Waits (at most ~2 s) until the thread has died and the pool has seen it go. */
async function untilNoThread(threads: ReturnType<typeof createArgon2Threads>) {
  for (let i = 0; i < 200 && threads.size() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe("argon2 threads", () => {
  // One thread (the 2-core default): were the dead thread handed the next task, that task would never be answered
  // and would hold the queue's only slot, so every later login would wait forever.
  it.each(["argon2-worker-exits-idle.js", "argon2-worker-fails-idle.js"])("a thread that dies while idle is replaced, not handed the next task (%s)", async (script) => {
    const threads = createArgon2Threads(1, 10, fixture(script));
    const queue = createWorkQueue(1, 10);
    expect(await queue.run(() => threads.run<string>(verifyTask))).toBe("answered");
    await untilNoThread(threads);
    const next = queue.run(() => threads.run<string>(verifyTask));
    const outcome = await Promise.race([next, new Promise((resolve) => setTimeout(() => resolve("no answer"), 5_000))]);
    expect(outcome).toBe("answered");
    expect(queue.depth()).toEqual({ running: 0, waiting: 0 });
  });

  it("answers real hashes and verifications on its threads", async () => {
    const threads = createArgon2Threads(1);
    const options = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
    const phc = await threads.run<string>({ kind: "hash", password: "a password of some length", options });
    expect(await threads.run<boolean>({ kind: "verify", phc, password: "a password of some length" })).toBe(true);
    expect(await threads.run<boolean>({ kind: "verify", phc: "not a hash", password: "x" })).toBe(false);
  });
});
