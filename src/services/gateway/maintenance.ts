import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import type { Logger } from "../../platform/logger.ts";
import type { MaintenanceRepository } from "./maintenance.repository.ts";
import { repeatAfter } from "../../platform/repeat.ts";

/** What the gateway enforces: on or off, the message shown, and where the flag came from. */
export interface MaintenanceState {
  enabled: boolean;
  message: string;
  retryAfterSeconds: number;
  since: string | null;
  /** database: `azora maintenance on`; file: the mounted ConfigMap (MAINTENANCE_FILE). */
  source: "database" | "file" | null;
}

export const DEFAULT_MAINTENANCE_MESSAGE = "Azora OS is down for scheduled maintenance. Please try again later.";
const off: MaintenanceState = { enabled: false, message: "", retryAfterSeconds: 600, since: null, source: null };

/** The ConfigMap's `maintenance.yaml`, as deployment/kubernetes/maintenance-mode.yaml writes it. */
const fileSchema = z.object({
  enabled: z.boolean(),
  message: z.string().max(500).optional(),
  retryAfterSeconds: z.number().int().min(1).max(86_400).optional(),
});

/**
 * Polls the shared flag (database) and the mounted file every `intervalMs`, so every gateway process
 * follows a change within one interval (the operations guide promises 5 s; the default is 2 s). Either
 * source can switch maintenance on. A failed poll keeps the last known state: a database hiccup must not
 * flip the platform in or out of maintenance.
 */
export function createMaintenanceWatcher(deps: { repository: MaintenanceRepository; filePath: string | undefined; intervalMs: number; logger: Logger }) {
  let state: MaintenanceState = off;
  let stopRepeating: (() => void) | undefined;
  let lastProblem = "";

  const report = (problem: string) => {
    if (problem && problem !== lastProblem) deps.logger.warn({ event: "maintenance_flag_unreadable", problem }, "maintenance flag could not be read; keeping the last state");
    lastProblem = problem;
  };

  const fromFile = async (): Promise<MaintenanceState | undefined> => {
    if (!deps.filePath) return off;
    let text: string;
    try {
      text = await readFile(deps.filePath, "utf8");
    } catch (error) {
      // No file is "off": the ConfigMap is optional and may be deleted to end maintenance.
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return off;
      throw error;
    }
    const parsed = fileSchema.safeParse(text.trim() === "" ? { enabled: false } : parse(text));
    if (!parsed.success) {
      report(`${deps.filePath} is not valid: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
      return undefined;
    }
    const { enabled, message, retryAfterSeconds } = parsed.data;
    return enabled ? { enabled, message: message || DEFAULT_MAINTENANCE_MESSAGE, retryAfterSeconds: retryAfterSeconds ?? 600, since: null, source: "file" } : off;
  };

  const poll = async () => {
    try {
      const [stored, file] = await Promise.all([deps.repository.read(), fromFile()]);
      const database: MaintenanceState = stored.enabled
        ? { enabled: true, message: stored.message || DEFAULT_MAINTENANCE_MESSAGE, retryAfterSeconds: stored.retryAfterSeconds, since: stored.changedAt, source: "database" }
        : off;
      if (file === undefined) return; // an unreadable file keeps the last state
      state = database.enabled ? database : file;
      report("");
    } catch (error) {
      report(error instanceof Error ? error.message.slice(0, 200) : String(error));
    }
  };

  return {
    /** Reads the flag once before the gateway serves, then keeps polling. */
    async start(): Promise<void> {
      await poll();
      stopRepeating = repeatAfter(deps.intervalMs, poll);
    },
    current: (): MaintenanceState => state,
    stop(): void {
      stopRepeating?.();
    },
  };
}

export type MaintenanceWatcher = ReturnType<typeof createMaintenanceWatcher>;
