import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { currentProcessIdentity, isRunning } from "./process-identity.ts";

describe("process identity", () => {
  it("recognises this process, and not a process that has ended", async () => {
    expect(isRunning(currentProcessIdentity())).toBe(true);
    const child = spawn(process.execPath, ["-e", ""]);
    await once(child, "exit");
    expect(isRunning({ pid: child.pid! })).toBe(false);
  });

  // The boot id and start time come from /proc; elsewhere only the PID is known.
  it.runIf(process.platform === "linux")("does not take another process that reuses the PID (another start time, or another boot) for the one recorded", () => {
    const self = currentProcessIdentity();
    expect(self.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(self.startTicks).toMatch(/^\d+$/);
    expect(isRunning({ ...self, startTicks: String(Number(self.startTicks) + 1) })).toBe(false);
    expect(isRunning({ ...self, bootId: "00000000-0000-0000-0000-000000000000" })).toBe(false);
  });
});
