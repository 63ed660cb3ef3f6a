import { z } from "zod";
import { cliActor, recordAudit } from "../platform/audit/audit.service.ts";
import type { PlatformCommand } from "../platform/command.ts";

// A type, not an interface: command arguments must be assignable to Record<string, unknown>.
export type AuditRowArgs<Action extends string> = {
  action: Action;
  target: string;
  details: Record<string, unknown>;
};

/**
 * A command that writes one audit row with one of `actions`, for work that runs outside the platform (the
 * deploy engine drives kubectl or process sets; log rotation works on files while the database may be down).
 * It runs wherever the database is: in-process on PostgreSQL, in the running `azora up` on the embedded default.
 */
export function auditRowCommand<const Action extends string>(name: string, actions: readonly [Action, ...Action[]]): PlatformCommand<AuditRowArgs<Action>> {
  const args = z.object({ action: z.enum(actions), target: z.string().min(1).max(200), details: z.record(z.string(), z.unknown()) });
  return {
    name,
    cacheless: true,
    async run(context, rawArgs, io) {
      const parsed = args.safeParse(rawArgs);
      if (!parsed.success) {
        io.err(`${name}: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
        return 2;
      }
      await recordAudit(context, { actor: io.actor ?? cliActor(), ...(parsed.data as AuditRowArgs<Action>) });
      return 0;
    },
  };
}
