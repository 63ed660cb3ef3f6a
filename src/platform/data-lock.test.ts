import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LockHeldError, acquireDataLock, liveHolder } from "./data-lock.ts";

describe("the data directory lock", () => {
  let dir: string | undefined;
  afterEach(async () => dir && rm(dir, { recursive: true, force: true }));

  it("lets one owner in, names it to others, and announces its ops port", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-lock-"));
    const lock = await acquireDataLock(dir, () => undefined);
    await lock.announce("127.0.0.1", 4321);
    expect(await liveHolder(dir)).toMatchObject({ pid: process.pid, opsHost: "127.0.0.1", opsPort: 4321 });
    await expect(acquireDataLock(dir, () => undefined)).rejects.toBeInstanceOf(LockHeldError);
    await lock.release();
    expect(await liveHolder(dir)).toBeUndefined();
  });

  it("recovers a lock whose process is gone, and says so", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-lock-"));
    const finished = spawnSync(process.execPath, ["-e", "process.pid"]);
    const deadPid = finished.pid as number;
    await writeFile(join(dir, "azora.lock"), JSON.stringify({ pid: deadPid, opsHost: null, opsPort: null, startedAt: "x" }));
    const stale: number[] = [];
    const lock = await acquireDataLock(dir, (holder) => stale.push(holder.pid));
    expect(stale).toEqual([deadPid]);
    expect(JSON.parse(await readFile(join(dir, "azora.lock"), "utf8")).pid).toBe(process.pid);
    await lock.release();
  });

  it("treats a half-written lock file as stale", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-lock-"));
    await writeFile(join(dir, "azora.lock"), '{"pid": 12');
    const lock = await acquireDataLock(dir, () => undefined);
    expect((await liveHolder(dir))?.pid).toBe(process.pid);
    await lock.release();
  });
});
