import type { CommandIO } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { liveHolder } from "../platform/data-lock.ts";

interface CheckJson {
  status: "ok" | "degraded" | "down";
  latencyMs: number;
  error?: string;
  checks?: Record<string, CheckJson>;
}

interface ComponentStatus {
  component: string;
  status: "ok" | "degraded" | "down";
  latencyMs: number | null;
  detail: string;
}

export interface HealthCheckOptions {
  json: boolean;
  url?: string;
  /** One or more ops listeners; in split mode the gateway's alone covers the services behind it. */
  opsUrl?: string | string[];
}

/**
 * `azora health-check`: asks the gateway and each ops port, prints one row per component (a service's own
 * dependencies as `users.database`, `users.cache`); 0 only when all are healthy.
 */
export async function healthCheck(config: Config, options: HealthCheckOptions, io: CommandIO): Promise<number> {
  const holder = config.database.url ? undefined : await liveHolder(config.paths.state);
  const given = typeof options.opsUrl === "string" ? [options.opsUrl] : (options.opsUrl ?? []);
  const opsUrls = given.length > 0 ? given : [holder?.opsPort ? `http://${holder.opsHost}:${holder.opsPort}` : `http://${config.ops.host}:${config.ops.port}`];
  const gatewayHost = config.gateway.host === "0.0.0.0" ? "127.0.0.1" : config.gateway.host;
  const gatewayUrl = options.url ?? `http://${gatewayHost}:${config.gateway.port}`;

  const rows: ComponentStatus[] = [];
  const publicHealth = await getJson(new URL("/health", gatewayUrl));
  rows.push({
    component: "gateway (public)",
    status: publicStatus(publicHealth),
    latencyMs: publicHealth.latencyMs,
    detail: publicHealth.error ?? `${gatewayUrl} answered ${publicHealth.status}`,
  });
  for (const opsUrl of opsUrls) {
    const detailed = await getJson(new URL("/health", opsUrl));
    const body = detailed.body as { service?: string; checks?: Record<string, CheckJson> } | undefined;
    // With several ops ports, each row says which process it comes from.
    const prefix = opsUrls.length > 1 ? `${body?.service ?? opsUrl}: ` : "";
    if (!body?.checks) {
      rows.push({ component: `${prefix}ops`, status: "down", latencyMs: detailed.latencyMs, detail: detailed.error ?? `${opsUrl} answered ${detailed.status}` });
      continue;
    }
    addRows(rows, prefix, body.checks);
  }

  const healthy = rows.every((row) => row.status === "ok");
  const overall = healthy ? "ok" : rows.some((row) => row.status === "down") ? "down" : "degraded";
  if (options.json) io.out(JSON.stringify({ status: overall, components: rows }, null, 2));
  else io.out(renderTable(rows, healthy));
  return healthy ? 0 : 1;
}

/** One row per check, nested checks (a service's database behind the gateway) as `service.check`. */
function addRows(rows: ComponentStatus[], prefix: string, checks: Record<string, CheckJson>): void {
  for (const [component, check] of Object.entries(checks)) {
    rows.push({ component: `${prefix}${component}`, status: check.status, latencyMs: check.latencyMs, detail: check.error ?? "" });
    if (check.checks) addRows(rows, `${prefix}${component}.`, check.checks);
  }
}

async function getJson(url: URL): Promise<{ status: number; body?: unknown; latencyMs: number; error?: string }> {
  const started = performance.now();
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    const body: unknown = await response.json().catch(() => undefined);
    return { status: response.status, body, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    return { status: 0, latencyMs: Math.round(performance.now() - started), error: `${url.origin} unreachable (${cause})` };
  }
}

function renderTable(rows: ComponentStatus[], healthy: boolean): string {
  const header = ["COMPONENT", "STATUS", "LATENCY", "DETAIL"];
  const cells = rows.map((row) => [row.component, row.status.toUpperCase(), row.latencyMs === null ? "-" : `${row.latencyMs} ms`, row.detail]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((cell) => cell[column]?.length ?? 0)));
  const line = (values: string[]) => values.map((value, column) => value.padEnd(widths[column] ?? 0)).join("  ").trimEnd();
  return [line(header), ...cells.map(line), "", healthy ? "All components healthy." : failingSummary(rows)].join("\n");
}

/**
 * The verdict says DOWN only when something is down; degraded alone (still serving, something missing,
 * such as the cache) is said as such. The Failing line names each component with its own status.
 */
export function failingSummary(rows: Pick<ComponentStatus, "component" | "status">[]): string {
  const failing = rows.filter((row) => row.status !== "ok");
  const verdict = failing.some((row) => row.status === "down") ? "Some components are DOWN." : "Some components are DEGRADED (still serving); none is down.";
  return `${verdict}\nFailing: ${failing.map((row) => `${row.component} ${row.status.toUpperCase()}`).join(", ")}.`;
}

/** The public answer says "degraded" while the gateway serves with some service failing: not the same as down. */
function publicStatus(answer: { status: number; body?: unknown }): ComponentStatus["status"] {
  const said = (answer.body as { status?: unknown } | undefined)?.status;
  if (answer.status === 200 && said !== "degraded") return "ok";
  return said === "degraded" ? "degraded" : "down";
}
