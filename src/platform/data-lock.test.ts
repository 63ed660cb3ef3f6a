import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LockHeldError, STALE_MS, acquireDataLock, liveHolder, type LockHolder } from "./data-lock.ts";

/** Leaves a lock as a killed holder would: the lock directory and the holder's description. */
async function leaveLock(dir: string, holder: Partial<LockHolder>, heartbeatAgeMs: number): Promise<void> {
  await mkdir(join(dir, "data.lock"));
  await writeFile(join(dir, "data.lock.holder.json"), JSON.stringify({ hostname: hostname(), instanceId: "old", opsHost: "127.0.0.1", opsPort: 1, startedAt: "x", ...holder }));
  const then = new Date(Date.now() - heartbeatAgeMs);
  await utimes(join(dir, "data.lock"), then, then);
}

describe("the data directory lock", () => {
  let dir: string | undefined;
  afterEach(async () => dir && rm(dir, { recursive: true, force: true }));
  const noEvents = { onStale: () => undefined };

  it("lets one owner in, names it to others, refuses a second owner while its heartbeat goes on", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-lock-"));
    const lock = await acquireDataLock(dir, noEvents);
    await lock.announce("127.0.0.1", 4321);
    expect(await liveHolder(dir)).toMatchObject({ pid: process.pid, opsHost: "127.0.0.1", opsPort: 4321, instanceId: lock.holder.instanceId });
    const waits: number[] = [];
    await expect(acquireDataLock(dir, { onStale: () => undefined, onWait: (holder) => waits.push(holder.pid) })).rejects.toBeInstanceOf(LockHeldError);
    expect(waits).toEqual([process.pid]);
    await lock.release();
    expect(await liveHolder(dir)).toBeUndefined();
  });

  it("recovers at once a lock whose process is gone from this machine, and says so", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-lock-"));
    const deadPid = spawnSync(process.execPath, ["-e", "0"]).pid as number;
    await leaveLock(dir, { pid: deadPid }, 0);
    expect(await liveHolder(dir)).toBeUndefined();
    const stale: number[] = [];
    const lock = await acquireDataLock(dir, { onStale: (holder) => stale.push(holder.pid) });
    expect(stale).toEqual([deadPid]);
    expect((await liveHolder(dir))?.pid).toBe(process.pid);
    await lock.release();
  });

  it("recovers a lock whose PID is alive but belongs to another process now, once its heartbeat has stopped", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-lock-"));
    // PID 1 (or this very process) is alive: the PID check alone would keep this lock forever.
    await leaveLock(dir, { pid: process.pid }, STALE_MS + 1_000);
    expect(await liveHolder(dir)).toBeUndefined();
    const stale: number[] = [];
    const lock = await acquireDataLock(dir, { onStale: (holder) => stale.push(holder.pid) });
    expect(stale).toEqual([process.pid]);
    expect((await liveHolder(dir))?.instanceId).toBe(lock.holder.instanceId);
    await lock.release();
  });

  it("waits for the heartbeat of a holder whose PID is alive, and takes over when it stops", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-lock-"));
    await leaveLock(dir, { pid: process.pid }, STALE_MS - 3_000);
    const events: string[] = [];
    const lock = await acquireDataLock(dir, { onStale: () => events.push("stale"), onWait: () => events.push("wait") });
    expect(events).toEqual(["wait", "stale"]);
    await lock.release();
  }, 30_000);

  it("treats a half-written holder description as unknown and goes by the heartbeat", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-lock-"));
    await leaveLock(dir, {}, STALE_MS + 1_000);
    await writeFile(join(dir, "data.lock.holder.json"), '{"pid": 12');
    const lock = await acquireDataLock(dir, noEvents);
    expect((await liveHolder(dir))?.pid).toBe(process.pid);
    await lock.release();
  });
});
