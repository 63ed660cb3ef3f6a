import { readdir, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { argon2Queue } from "./argon2-queue.ts";
import { dummyPasswordHash, hashPassword, needsRehash, verifyPassword } from "./passwords.ts";

describe("passwords", () => {
  it("hashes with argon2id at OWASP's parameters into a salted PHC string", async () => {
    const phc = await hashPassword("correct horse battery staple");
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await hashPassword("correct horse battery staple")).not.toBe(phc);
    expect(await verifyPassword(phc, "correct horse battery staple")).toBe(true);
    expect(await verifyPassword(phc, "Correct horse battery staple")).toBe(false);
    expect(needsRehash(phc)).toBe(false);
  });

  it("asks for a rehash when the parameters changed, and treats garbage as a mismatch", async () => {
    expect(needsRehash("$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2g")).toBe(true);
    expect(await verifyPassword("not a hash", "x")).toBe(false);
  });

  // The event loop must win the CPU over a hash (health probes during a login burst): the hashing thread
  // runs at a lowered priority. /proc/<pid>/task/<tid>/stat's 19th field is the thread's nice value.
  it.runIf(process.platform === "linux")("hashes on a thread of lowered priority, the event loop's stays normal", async () => {
    await hashPassword("a password to start the hashing thread");
    const niceness = async (task: string) => {
      const stat = await readFile(`/proc/self/task/${task}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    };
    const values = await Promise.all((await readdir("/proc/self/task")).map(niceness));
    expect(await niceness(String(process.pid))).toBe(0);
    expect(values.filter((value) => value === 10)).toHaveLength(1);
  });

  // The first unknown-email login of a burst may find the queue full (503): that refusal must not be kept as the
  // dummy hash, or every later unknown-email login would answer 503 while known emails answer 401.
  it("does not keep a dummy hash that failed: the next call makes one", async () => {
    const flood: Promise<boolean>[] = [];
    while (argon2Queue.depth().waiting < 1_000) flood.push(verifyPassword("not a hash", "x"));
    await expect(dummyPasswordHash()).rejects.toMatchObject({ status: 503 });
    await Promise.all(flood);
    expect(await dummyPasswordHash()).toMatch(/^\$argon2id\$/);
  });
});
