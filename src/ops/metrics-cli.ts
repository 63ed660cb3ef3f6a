import type { CommandIO } from "../platform/command.ts";
import type { Config } from "../platform/config.ts";
import { formatValue } from "../platform/dashboard/dashboard-page.ts";
import type { Figures } from "../platform/dashboard/figures.ts";
import { liveHolder } from "../platform/data-lock.ts";
import { loadOrCreateSecret } from "../platform/secrets.ts";

export interface MetricsOptions {
  json: boolean;
  opsUrl?: string;
}

/**
 * `azora metrics`: the ops dashboard's figures in the terminal — request rate, error ratio and p95 per
 * service over the last 5 minutes, the gauges, and the alerts the rule thresholds raise. Read from the
 * running process's ops port (its ring buffer), so the figures are the dashboard's.
 */
export async function metricsCommand(config: Config, options: MetricsOptions, io: CommandIO): Promise<number> {
  const holder = config.database.url ? undefined : await liveHolder(config.paths.state);
  const opsUrl = options.opsUrl ?? (holder?.opsPort ? `http://${holder.opsHost}:${holder.opsPort}` : `http://${config.ops.host}:${config.ops.port}`);
  const token = await loadOrCreateSecret(config.paths.secrets, "ops-token", config.ops.token);
  let response: Response;
  try {
    response = await fetch(new URL("/dashboard.json", opsUrl), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    io.err(`azora metrics: ${new URL(opsUrl).origin} unreachable (${cause}); is the platform running? (--ops-url to name it)`);
    return 1;
  }
  if (!response.ok) {
    io.err(`azora metrics: ${new URL(opsUrl).origin} answered ${response.status}${response.status === 401 ? " (set AZORA_OPS_TOKEN to the process's ops token)" : ""}`);
    return 1;
  }
  const figures = (await response.json()) as Figures;
  io.out(options.json ? JSON.stringify(figures, null, 2) : renderFigures(figures));
  return 0;
}

const age = (seconds: number | null, none = "none") =>
  seconds === null ? none : seconds < 3600 ? `${Math.round(seconds / 60)} min ago` : seconds < 172_800 ? `${(seconds / 3600).toFixed(1)} h ago` : `${(seconds / 86_400).toFixed(1)} days ago`;

/** The figures as a terminal table. */
export function renderFigures(figures: Figures): string {
  const { current } = figures;
  const rows = [["service", "requests", "errors (5xx)", "p95"], ...figures.services.map((s) => [s, formatValue(current.requestRate[s], "/s"), formatValue(current.errorRatio[s], "%"), formatValue(current.p95Seconds[s], "s")])];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const table = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd());
  const gauges = [
    ["active users", String(current.activeUsers)],
    ["database connections", `${current.dbConnections} of ${current.dbConnectionsMax}`],
    ["failed logins", formatValue(current.loginFailureRate, "/s")],
    ["cache hit ratio", formatValue(current.cacheHitRatio, "%")],
    ["disk free (DATA_DIR)", formatValue(current.diskFreeRatio, "%")],
    ["newest backup", age(current.backupAgeSeconds)],
    ["last restore drill", age(current.drillAgeSeconds, "never")],
  ].map(([name, value]) => `${name!.padEnd(22)}${value}`);
  const alerts = figures.alerts.length === 0
    ? ["alerts                none"]
    : ["alerts", ...figures.alerts.map((a) => `  ${a.state.toUpperCase().padEnd(8)} ${a.alert} (${a.severity}) ${a.subject}: ${Number(a.value.toPrecision(3))}`)];
  return [`Last 5 minutes (${figures.sampleCount} readings over the last hour, ${figures.generatedAt})`, "", ...table, "", ...gauges, ...alerts].join("\n");
}
