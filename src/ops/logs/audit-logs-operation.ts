import type { Config } from "../../platform/config.ts";
import { runPlatformCommand } from "../run-platform-command.ts";
import { logsAuditCommand, type LogsAuditArgs } from "./logs-audit.ts";

/** Writes the row; a failure is reported and does not undo the rotation or archive that already happened. */
export async function auditLogsOperation(config: Config, entry: LogsAuditArgs, warn: (text: string) => void): Promise<void> {
  const problems: string[] = [];
  try {
    const code = await runPlatformCommand(config, logsAuditCommand, entry, { out: () => undefined, err: (text) => problems.push(text) });
    if (code === 0) return;
    problems.push(`exit ${code}`);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  warn(`The audit row ${entry.action} could not be written (${problems.join(" ")}); the files above are as reported.`);
}
