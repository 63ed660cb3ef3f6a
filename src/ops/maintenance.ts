import { z } from "zod";
import type { PlatformCommand } from "../platform/command.ts";
import { cliActor, recordAudit } from "../platform/audit/audit.service.ts";
import { LogEvent } from "../platform/log-events.ts";
import { createMaintenanceRepository, type StoredMaintenance } from "../services/gateway/maintenance.repository.ts";
import { DEFAULT_MAINTENANCE_MESSAGE } from "../services/gateway/maintenance.ts";

const args = z.discriminatedUnion("action", [
  z.object({
    action: z.literal("on"),
    message: z.string().trim().max(500).optional(),
    retryAfter: z.number().int().min(1).max(86_400).default(600),
    json: z.boolean().default(false),
  }),
  z.object({ action: z.literal("off"), json: z.boolean().default(false) }),
  z.object({ action: z.literal("status"), json: z.boolean().default(false) }),
]);
export type MaintenanceArgs = z.input<typeof args>;

const describe = (state: StoredMaintenance) =>
  state.enabled
    ? `Maintenance mode is ON since ${state.changedAt}: public routes answer 503 "${state.message || DEFAULT_MAINTENANCE_MESSAGE}" (Retry-After ${state.retryAfterSeconds} s).`
    : `Maintenance mode is off (last change ${state.changedAt}).`;

/**
 * `azora maintenance on|off|status`: the flag lives in the database, which every gateway process polls, so
 * a change reaches all of them within seconds whichever machine runs the command.
 */
export const maintenanceCommand: PlatformCommand<MaintenanceArgs> = {
  name: "maintenance",
  async run(context, rawArgs, io) {
    const parsed = args.safeParse(rawArgs);
    if (!parsed.success) {
      io.err('Usage: azora maintenance on --message "…" [--retry-after 600] | off | status (--retry-after takes whole seconds, 1 to 86400; the message at most 500 characters).');
      return 2;
    }
    const repository = createMaintenanceRepository(context.db);
    const request = parsed.data;
    let state: StoredMaintenance;
    if (request.action === "status") state = await repository.read();
    else {
      const before = await repository.read();
      state =
        request.action === "on"
          ? await repository.write({ enabled: true, message: request.message ?? "", retryAfterSeconds: request.retryAfter })
          : await repository.write({ enabled: false, message: "", retryAfterSeconds: before.retryAfterSeconds });
      context.logs.api.info(
        { event: LogEvent.MAINTENANCE_MODE_CHANGED, enabled: state.enabled, wasEnabled: before.enabled, retryAfterSeconds: state.retryAfterSeconds, actor: "cli" },
        `maintenance mode ${state.enabled ? "on" : "off"}`,
      );
      await recordAudit(context, {
        actor: io.actor ?? cliActor(),
        action: state.enabled ? "maintenance.on" : "maintenance.off",
        target: "maintenance",
        details: { wasEnabled: before.enabled, retryAfterSeconds: state.retryAfterSeconds, ...(state.enabled ? { message: state.message } : {}) },
      });
    }
    if (request.json) io.out(JSON.stringify(state));
    else {
      io.out(describe(state));
      if (request.action !== "status") io.out("Every gateway process follows within 5 s.");
    }
    return 0;
  },
};
