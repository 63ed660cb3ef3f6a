import { z } from "zod";
import type { PlatformCommand } from "../platform/command.ts";
import { migrate } from "../platform/db/migrator.ts";

const args = z.object({ json: z.boolean().default(false) });

/** `azora migrate`: applies pending migrations (a Job in Kubernetes, never once per replica). */
export const migrateCommand: PlatformCommand<z.input<typeof args>> = {
  name: "migrate",
  migrates: true,
  async run(context, rawArgs, io) {
    const { json } = args.parse(rawArgs);
    const report = await migrate(context.db);
    if (json) io.out(JSON.stringify(report));
    else if (report.applied.length === 0) io.out(`Database is up to date (${report.alreadyApplied} migrations applied earlier).`);
    else io.out(`Applied ${report.applied.length} migration(s):\n${report.applied.map((version) => `  ${version}`).join("\n")}`);
    return 0;
  },
};
