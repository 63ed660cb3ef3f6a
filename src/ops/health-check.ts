import type { CommandIO } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { liveHolder } from "../platform/data-lock.ts";

interface ComponentStatus {
  component: string;
  status: "ok" | "down";
  latencyMs: number | null;
  detail: string;
}

export interface HealthCheckOptions {
  json: boolean;
  url?: string;
  opsUrl?: string;
}

/** `azora health-check`: asks the gateway and the ops port, prints one row per component; 0 only when all are healthy. */
export async function healthCheck(config: Config, options: HealthCheckOptions, io: CommandIO): Promise<number> {
  const holder = config.database.url ? undefined : await liveHolder(config.paths.state);
  const opsUrl = options.opsUrl ?? (holder?.opsPort ? `http://${holder.opsHost}:${holder.opsPort}` : `http://${config.ops.host}:${config.ops.port}`);
  const gatewayHost = config.gateway.host === "0.0.0.0" ? "127.0.0.1" : config.gateway.host;
  const gatewayUrl = options.url ?? `http://${gatewayHost}:${config.gateway.port}`;

  const rows: ComponentStatus[] = [];
  const publicHealth = await getJson(new URL("/health", gatewayUrl));
  rows.push({
    component: "gateway (public)",
    status: publicHealth.status === 200 ? "ok" : "down",
    latencyMs: publicHealth.latencyMs,
    detail: publicHealth.error ?? `${gatewayUrl} answered ${publicHealth.status}`,
  });
  const detailed = await getJson(new URL("/health", opsUrl));
  const checks = (detailed.body as { checks?: Record<string, { status: "ok" | "down"; latencyMs: number; error?: string }> } | undefined)?.checks;
  if (!checks) {
    rows.push({ component: "ops", status: "down", latencyMs: detailed.latencyMs, detail: detailed.error ?? `${opsUrl} answered ${detailed.status}` });
  } else {
    for (const [component, check] of Object.entries(checks)) {
      rows.push({ component, status: check.status, latencyMs: check.latencyMs, detail: check.error ?? "" });
    }
  }

  const healthy = rows.every((row) => row.status === "ok");
  if (options.json) io.out(JSON.stringify({ status: healthy ? "ok" : "down", components: rows }, null, 2));
  else io.out(renderTable(rows, healthy));
  return healthy ? 0 : 1;
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
  return [line(header), ...cells.map(line), "", healthy ? "All components healthy." : "Some components are DOWN."].join("\n");
}
