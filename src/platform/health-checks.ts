import type { PlatformContext } from "./context.ts";
import type { CheckResult, ComponentReport, ComponentStatus, HealthCheck } from "./health.ts";

const PROBE_TIMEOUT_MS = 2_000;
const statuses = new Set<ComponentStatus>(["ok", "degraded", "down"]);

/**
 * The process's own dependencies. The database is critical where requests need it (auth, users); the
 * cache never is: without it the process serves from the database, so it is only `degraded`.
 */
export function dependencyChecks(context: PlatformContext, options: { databaseCritical: boolean }): HealthCheck[] {
  return [
    {
      name: "database",
      whenFailing: "down",
      critical: options.databaseCritical,
      run: async () => void (await context.db.background.query("SELECT 1")),
    },
    { name: "cache", whenFailing: "degraded", critical: false, run: () => context.cache.ping() },
  ];
}

/** A listener of this process: any HTTP answer means it serves (its dependencies have their own checks). */
export function listenerCheck(name: string, url: string): HealthCheck {
  return {
    name,
    whenFailing: "down",
    critical: true,
    run: async () => {
      const response = await fetch(new URL("/health", url), { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      await response.body?.cancel();
    },
  };
}

/**
 * A service in another process (the gateway's upstreams in split mode): its own report, nested, so one probe
 * of the gateway names a failing database or cache behind any service. Not critical: the gateway still
 * serves the routes of the other services, so one dead upstream must not take it out of rotation.
 */
export function upstreamCheck(name: string, url: string): HealthCheck {
  return {
    name,
    whenFailing: "down",
    critical: false,
    run: async () => {
      const response = await fetch(new URL("/health", url), { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      const body: unknown = await response.json().catch(() => undefined);
      const report = asReport(body);
      if (report) return report;
      if (!response.ok) throw new Error(`answered ${response.status}`);
    },
  };
}

function asReport(body: unknown): ComponentReport | undefined {
  const candidate = body as { status?: unknown; checks?: unknown } | undefined;
  if (!candidate || !statuses.has(candidate.status as ComponentStatus)) return undefined;
  const report: ComponentReport = { status: candidate.status as ComponentStatus };
  if (candidate.checks && typeof candidate.checks === "object") report.checks = candidate.checks as Record<string, CheckResult>;
  return report;
}
