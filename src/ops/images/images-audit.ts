import type { Config } from "../../platform/config.ts";
import { auditRowCommand, type AuditRowArgs } from "../audit-row-command.ts";
import { runPlatformCommand } from "../run-platform-command.ts";

export type ImagesAuditArgs = AuditRowArgs<"images.update">;

/** Records an image tag bump in the audit log; it edits files in the checkout, so it does not open the database itself. */
export const imagesAuditCommand = auditRowCommand("images audit", ["images.update"]);

/** Writes the row; a failure is reported and does not undo the overlay edit that already happened. */
export async function auditImagesUpdate(config: Config, entry: ImagesAuditArgs, warn: (text: string) => void): Promise<boolean> {
  const problems: string[] = [];
  try {
    const code = await runPlatformCommand(config, imagesAuditCommand, entry, { out: () => undefined, err: (text) => problems.push(text) });
    if (code === 0) return true;
    problems.push(`exit ${code}`);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  warn(`The audit row images.update could not be written (${problems.join(" ")}); the overlays are changed as shown.`);
  return false;
}
