import type { Incident } from "./incidents.repository.ts";
import type { MaintenanceState } from "./maintenance.ts";

export type ComponentStatus = "operational" | "degraded" | "outage" | "maintenance";

/** What /status and /status.json publish: no internals, no addresses, no error texts. */
export interface PlatformStatus {
  status: ComponentStatus;
  components: { name: string; label: string; status: ComponentStatus }[];
  maintenance: { message: string; since: string | null; retryAfterSeconds: number } | null;
  incidents: Incident[];
  version: string;
  updatedAt: string;
}

export interface StatusSources {
  version: string;
  upstreamHealthy(name: "auth" | "users"): Promise<boolean>;
  /** True while the shared rate-limit store (Redis) is unreachable: limits then run per process. */
  limitsDegraded(): boolean;
  maintenance(): MaintenanceState | undefined;
  openIncidents(): Promise<Incident[]>;
}

const labels = { gateway: "API", auth: "Sign-in and accounts", users: "Profiles and content" } as const;

/** Builds the public status; the worst component decides the headline, maintenance overrides it. */
export async function collectStatus(sources: StatusSources): Promise<PlatformStatus> {
  const [auth, users, incidents] = await Promise.all([
    sources.upstreamHealthy("auth"),
    sources.upstreamHealthy("users"),
    // The status page must answer even when the incident list cannot be read.
    sources.openIncidents().catch(() => [] as Incident[]),
  ]);
  const maintenance = sources.maintenance();
  const inMaintenance = maintenance?.enabled === true;
  const state = (healthy: boolean): ComponentStatus => (inMaintenance ? "maintenance" : healthy ? "operational" : "outage");
  const components = [
    { name: "gateway", label: labels.gateway, status: inMaintenance ? "maintenance" : sources.limitsDegraded() ? "degraded" : "operational" } as const,
    { name: "auth", label: labels.auth, status: state(auth) },
    { name: "users", label: labels.users, status: state(users) },
  ];
  const rank: Record<ComponentStatus, number> = { operational: 0, degraded: 1, outage: 2, maintenance: 3 };
  let status = components.reduce<ComponentStatus>((worst, component) => (rank[component.status] > rank[worst] ? component.status : worst), "operational");
  // One service down is a partial outage of the platform: report it as degraded unless nothing answers.
  if (status === "outage" && components.some((component) => component.status === "operational")) status = "degraded";
  return {
    status,
    components,
    maintenance: inMaintenance ? { message: maintenance.message, since: maintenance.since, retryAfterSeconds: maintenance.retryAfterSeconds } : null,
    incidents,
    version: sources.version,
    updatedAt: new Date().toISOString(),
  };
}

/**
 * One computation at a time, reused for `ttlMs`: public /health and /status then cost at most one round
 * of upstream health calls per second, however many clients ask.
 */
export function cachedFor<T>(ttlMs: number, compute: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  let computedAt = 0;
  return () => {
    const now = Date.now();
    if (!value || now - computedAt >= ttlMs) {
      computedAt = now;
      value = compute();
      // A failed computation is not kept: the next caller tries again.
      value.catch(() => {
        value = undefined;
      });
    }
    return value;
  };
}
