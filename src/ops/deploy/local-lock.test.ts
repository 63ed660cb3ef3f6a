// The local target's deploy lock and rollback request on a real data directory: each is removed only by
// the id that made it, so a lock removed as stale and taken by the next deploy stays that deploy's.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config.ts";
import { localTarget } from "./local-target.ts";

async function target() {
  const dataDir = await mkdtemp(join(tmpdir(), "azora-local-lock-"));
  const env = { DATA_DIR: dataDir, DATABASE_URL: "postgres://unused@127.0.0.1:1/none" };
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(loaded.problems.join("; "));
  const quiet = { out: () => undefined, err: () => undefined };
  return { dataDir, make: () => localTarget(loaded.config, env, quiet, "staging"), lockFile: join(loaded.config.paths.state, "deploy-local.lock") };
}

describe("the local target's lock and rollback request are released by id", () => {
  it("a deploy whose lock was removed as stale does not remove the lock the next deploy took", async () => {
    const { dataDir, make, lockFile } = await target();
    const first = make();
    const next = make();
    expect(await first.lock("ops@bastion pid 1", "first")).toEqual({ ok: true });
    expect(await next.lock("ops@bastion pid 2", "next")).toEqual({ ok: false, holder: expect.stringMatching(/^ops@bastion pid 1 since /) });
    await rm(lockFile); // an operator took the first deploy's lock for stale
    expect(await next.lock("ops@bastion pid 2", "next")).toEqual({ ok: true });
    expect(await first.unlock("first")).toEqual({ released: false, holder: expect.stringMatching(/^ops@bastion pid 2 since /) });
    expect(await readFile(lockFile, "utf8")).toMatch(/^ops@bastion pid 2 since .*\nid next\n$/);
    expect(await next.unlock("next")).toEqual({ released: true });
    expect(existsSync(lockFile)).toBe(false);
    expect(await first.unlock("first")).toEqual({ released: false });
    await rm(dataDir, { recursive: true, force: true });
  });

  it("a rollback request is withdrawn only by its own id", async () => {
    const { dataDir, make } = await target();
    const local = make();
    const request = { kind: "rollback" as const, reason: "Canary errors", holder: "ops@bastion pid 3", at: "2026-11-29T05:00:00Z", deployId: "deploy-a", id: "request-1" };
    expect(await local.requestRollback(request)).toEqual({ ok: true });
    expect(await local.requestRollback({ ...request, kind: "moving", id: "claim-1" })).toEqual({ ok: false, existing: request });
    await local.clearRollbackRequest("claim-1");
    expect(await local.readRollbackRequest()).toEqual(request);
    await local.clearRollbackRequest("request-1");
    expect(await local.readRollbackRequest()).toBeUndefined();
    await rm(dataDir, { recursive: true, force: true });
  });
});
