import type { CommandIO } from "../../platform/command.ts";
import type { PlatformContext } from "../../platform/context.ts";
import { backupDrillCommand, backupFullCommand } from "../backup.ts";
import { backupConfigCommand, backupContentCommand } from "../config-content-backup.ts";
import { monthlySlot, type PlanTask } from "./backup-plan.ts";

/** The guide's plan on the embedded default: full 02:00, config 03:00, content 04:00, a drill every month (times configurable). */
export function guideBackupPlan(context: PlatformContext): PlanTask[] {
  const { schedule } = context.config.backup;
  const logger = context.logs.api.child({ job: "backup-plan" });
  // What the commands would print goes to the log: nobody watches a terminal at 02:00.
  const io: CommandIO = { out: (text) => logger.info({ event: "scheduled_backup_output" }, text), err: (text) => logger.warn({ event: "scheduled_backup_output" }, text) };
  return [
    { name: "full", slot: { time: schedule.full }, run: () => backupFullCommand.run(context, { kind: "full" }, io) },
    { name: "config", slot: { time: schedule.config }, run: () => backupConfigCommand(context.config, { json: false }, io) },
    { name: "content", slot: { time: schedule.content }, run: () => backupContentCommand.run(context, {}, io) },
    { name: "drill", slot: monthlySlot(schedule.drill), run: () => backupDrillCommand.run(context, { reference: "latest" }, io) },
  ];
}
