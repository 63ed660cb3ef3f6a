import { mkdtempSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogs } from "../../platform/logger.ts";
import { backupPlanJob, isDue, lastSlotAt, monthlySlot, type PlanTask } from "./backup-plan.ts";

const at = (iso: string) => Date.parse(iso);

describe("the backup plan", () => {
  let stateDir: string;
  let now: number;
  const ran: string[] = [];
  const clock = { now: () => now };
  const logs = createLogs({ dir: mkdtempSync(join(tmpdir(), "azora-plan-logs-")), level: "silent", stdout: false });
  const task = (name: PlanTask["name"], slot: PlanTask["slot"], code = 0): PlanTask => ({
    name,
    slot,
    run: async () => {
      ran.push(name);
      return code;
    },
  });
  const guide = (failing?: PlanTask["name"]) => [
    task("full", { time: "02:00" }, failing === "full" ? 1 : 0),
    task("config", { time: "03:00" }),
    task("content", { time: "04:00" }),
    task("drill", monthlySlot("01 05:00")),
  ];
  const job = (tasks = guide()) => backupPlanJob({ tasks, clock, stateDir, logger: logs.api });

  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "azora-plan-"));
    ran.length = 0;
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it("finds the latest daily and monthly slot", () => {
    expect(lastSlotAt({ time: "02:00" }, at("2026-11-29T01:59:00Z"))).toBe(at("2026-11-28T02:00:00Z"));
    expect(lastSlotAt({ time: "02:00" }, at("2026-11-29T02:00:00Z"))).toBe(at("2026-11-29T02:00:00Z"));
    expect(lastSlotAt({ time: "05:00", dayOfMonth: 1 }, at("2026-11-29T12:00:00Z"))).toBe(at("2026-11-01T05:00:00Z"));
    expect(lastSlotAt({ time: "05:00", dayOfMonth: 1 }, at("2026-01-01T04:00:00Z"))).toBe(at("2025-12-01T05:00:00Z"));
    expect(isDue({ time: "02:00" }, at("2026-11-29T02:59:00Z"), undefined)).toBe(true);
    // Missed by more than an hour (the machine was off): wait for tomorrow rather than back up at noon.
    expect(isDue({ time: "02:00" }, at("2026-11-29T03:01:00Z"), undefined)).toBe(false);
  });

  it("runs full at 02:00, config at 03:00, content at 04:00 and the drill monthly, each once", async () => {
    const plan = job();
    const ticks: Record<string, string[]> = {};
    for (const time of ["2026-12-01T01:59:00Z", "2026-12-01T02:00:00Z", "2026-12-01T02:01:00Z", "2026-12-01T03:00:30Z", "2026-12-01T04:00:00Z", "2026-12-01T05:00:00Z", "2026-12-01T05:01:00Z", "2026-12-02T02:00:00Z", "2026-12-02T05:00:00Z"]) {
      now = at(time);
      ticks[time] = await plan.tick();
    }
    expect(ticks).toEqual({
      "2026-12-01T01:59:00Z": [],
      "2026-12-01T02:00:00Z": ["full"],
      "2026-12-01T02:01:00Z": [],
      "2026-12-01T03:00:30Z": ["config"],
      "2026-12-01T04:00:00Z": ["content"],
      "2026-12-01T05:00:00Z": ["drill"],
      "2026-12-01T05:01:00Z": [],
      "2026-12-02T02:00:00Z": ["full"],
      "2026-12-02T05:00:00Z": [],
    });
  });

  it("remembers across a restart, and a failed task is reported, not retried every minute", async () => {
    now = at("2026-12-03T02:00:00Z");
    expect(await job(guide("full")).tick()).toEqual(["full"]);
    now = at("2026-12-03T02:10:00Z");
    // A new process (azora up restarted) reads when each task last ran.
    expect(await job().tick()).toEqual([]);
    expect(ran).toEqual(["full"]);
  });
});
