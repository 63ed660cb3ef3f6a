import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../../platform/clock.ts";
import type { Logger } from "../../platform/logger.ts";
import { LogEvent } from "../../platform/log-events.ts";
import type { ScheduledJob } from "../../platform/scheduler.ts";

/** When a task is due: daily at HH:MM UTC, or monthly on a day (1-28) at HH:MM UTC. */
export interface Slot {
  time: string;
  dayOfMonth?: number;
}

export interface PlanTask {
  name: "full" | "config" | "content" | "drill";
  slot: Slot;
  /** Runs the task; resolves to its exit code (0 = success). */
  run(): Promise<number>;
}

/** A slot missed by more than this (the machine was off at 02:00) waits for the next one rather than running late. */
export const CATCH_UP_MS = 3_600_000;
/** How often the plan looks at the clock. */
export const PLAN_TICK_MS = 60_000;

/** Parses "DD HH:MM" (the drill's setting) into a monthly slot. */
export function monthlySlot(setting: string): Slot {
  const [day = "1", time = "05:00"] = setting.split(" ");
  return { time, dayOfMonth: Number(day) };
}

/** The most recent moment the slot fell on, at or before now (ms since the epoch). */
export function lastSlotAt(slot: Slot, now: number): number {
  const [hours = 0, minutes = 0] = slot.time.split(":").map(Number);
  const today = new Date(now);
  const year = today.getUTCFullYear();
  const month = today.getUTCMonth();
  if (slot.dayOfMonth === undefined) {
    const at = Date.UTC(year, month, today.getUTCDate(), hours, minutes);
    return at <= now ? at : at - 24 * 3_600_000;
  }
  const at = Date.UTC(year, month, slot.dayOfMonth, hours, minutes);
  return at <= now ? at : Date.UTC(year, month - 1, slot.dayOfMonth, hours, minutes);
}

/** Whether the task should run now: its latest slot has passed, not long ago, and it has not run since. */
export function isDue(slot: Slot, now: number, lastRun: number | undefined): boolean {
  const at = lastSlotAt(slot, now);
  return now - at < CATCH_UP_MS && (lastRun === undefined || lastRun < at);
}

/**
 * The operations guide's backup plan as a job of `azora up`: every minute it runs the tasks that are due,
 * one after the other. When each task last ran is kept in DATA_DIR/state, so a restart at 02:10 does not
 * take the 02:00 backup twice.
 */
export function backupPlanJob(deps: { tasks: PlanTask[]; clock: Clock; stateDir: string; logger: Logger; intervalMs?: number }): ScheduledJob & { tick(): Promise<string[]> } {
  const file = join(deps.stateDir, "backup-plan.json");
  const readLastRuns = async (): Promise<Record<string, number>> => JSON.parse(await readFile(file, "utf8").catch(() => "{}")) as Record<string, number>;

  const tick = async (): Promise<string[]> => {
    const lastRuns = await readLastRuns();
    const ran: string[] = [];
    for (const task of deps.tasks) {
      const now = deps.clock.now();
      if (!isDue(task.slot, now, lastRuns[task.name])) continue;
      // Recorded before it runs: a task that fails is reported, not retried every minute until the hour ends.
      lastRuns[task.name] = now;
      await mkdir(deps.stateDir, { recursive: true, mode: 0o700 });
      await writeFile(`${file}.tmp`, JSON.stringify(lastRuns));
      await rename(`${file}.tmp`, file);
      ran.push(task.name);
      const code = await task.run().catch((error: unknown) => {
        deps.logger.error({ event: LogEvent.SCHEDULED_BACKUP_FAILED, task: task.name, err: error }, "scheduled backup task failed");
        return 1;
      });
      if (code === 0) deps.logger.info({ event: LogEvent.SCHEDULED_BACKUP_DONE, task: task.name }, `scheduled ${task.name} backup task done`);
      else deps.logger.error({ event: LogEvent.SCHEDULED_BACKUP_FAILED, task: task.name, exitCode: code }, "scheduled backup task failed");
    }
    return ran;
  };
  return { name: "backup-plan", intervalMs: deps.intervalMs ?? PLAN_TICK_MS, run: async () => void (await tick()), tick };
}
