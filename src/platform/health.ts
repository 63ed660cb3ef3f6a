export type ComponentStatus = "ok" | "degraded" | "down";

/** One dependency probe for the detailed /health answer. */
export interface HealthCheck {
  name: string;
  /** The component's status when the probe throws (default `down`): `degraded` for a cache (the process still serves). */
  whenFailing?: "down" | "degraded";
  /** A critical component that is down makes this process not ready (default true). */
  critical?: boolean;
  /**
   * Throws when the component fails; `{ degraded }` when the process still serves without it; may return the
   * component's own report (an upstream's health, with its checks).
   */
  run(): Promise<void | ComponentReport | { degraded: string }>;
}

/** What a component says about itself, e.g. a service behind the gateway: its status and its own checks. */
export interface ComponentReport {
  status: ComponentStatus;
  checks?: Record<string, CheckResult>;
}

export interface CheckResult {
  status: ComponentStatus;
  latencyMs: number;
  error?: string;
  checks?: Record<string, CheckResult>;
}

export interface HealthReport {
  status: ComponentStatus;
  checks: Record<string, CheckResult>;
}

/**
 * Runs every probe at once, each bounded by a timeout, and reports latency per dependency. The process is
 * `down` only when a critical component is down; any other failure makes it `degraded` (it still serves).
 */
export async function runHealthChecks(checks: HealthCheck[], timeoutMs = 2_000): Promise<HealthReport> {
  const results = await Promise.all(
    checks.map(async (check): Promise<[HealthCheck, CheckResult]> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const report = await Promise.race([
          check.run(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        if (report && "degraded" in report) return [check, { status: "degraded", latencyMs: elapsed(started), error: report.degraded }];
        const result: CheckResult = { status: report?.status ?? "ok", latencyMs: elapsed(started) };
        if (report?.checks) result.checks = report.checks;
        return [check, result];
      } catch (error) {
        return [check, { status: check.whenFailing ?? "down", latencyMs: elapsed(started), error: describe(error) }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const checksByName = Object.fromEntries(results.map(([check, result]) => [check.name, result]));
  const down = results.some(([check, result]) => check.critical !== false && result.status === "down");
  const status = down ? "down" : results.every(([, result]) => result.status === "ok") ? "ok" : "degraded";
  return { status, checks: checksByName };
}

/** HTTP status for a health answer: 503 only when the process cannot serve. */
export const healthHttpStatus = (status: ComponentStatus) => (status === "down" ? 503 : 200);

const elapsed = (started: number) => Math.round((performance.now() - started) * 10) / 10;

/** A short reason without connection strings or credentials. */
export function describe(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && code !== "database_unavailable") return code;
  const cause = (error as { cause?: { code?: unknown } })?.cause?.code;
  if (typeof cause === "string") return cause;
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\b[a-z]+:\/\/\S+/gi, "[url]").slice(0, 200);
}
