import type { TimeWindow } from "./log-window.ts";

/** One alert state change of the window, as the post-mortem's timeline shows it. */
export interface AlertChange {
  at: string;
  text: string;
}

// Prometheus answers at most 11,000 points per series; a finer step than its rule evaluation adds nothing.
const MAX_POINTS = 10_000;

/** The step of a range query over the window: one second, or coarser so that the window fits in MAX_POINTS. */
export const alertStepSeconds = (window: TimeWindow) => Math.max(1, Math.ceil((window.until.getTime() - window.since.getTime()) / 1000 / MAX_POINTS));

/** `alertname (severity=critical, service=users)`: the labels that say which alert, without the bookkeeping ones. */
function describeAlert(labels: Record<string, string>): string {
  const rest = Object.entries(labels)
    .filter(([name]) => !["__name__", "alertname", "alertstate"].includes(name))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `${name}=${value}`);
  return `${labels.alertname ?? "unnamed alert"}${rest.length > 0 ? ` (${rest.join(", ")})` : ""}`;
}

/**
 * Firing periods of one ALERTS series as fired/resolved changes. A gap longer than one and a half steps
 * ends a period (the alert resolved and may fire again); a period that touches an end of the window is
 * said to have been firing already, or still, rather than given a time it did not have.
 */
export function alertChanges(labels: Record<string, string>, times: number[], window: TimeWindow, step: number): AlertChange[] {
  const name = describeAlert(labels);
  const since = window.since.getTime() / 1000;
  const until = window.until.getTime() / 1000;
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
  const changes: AlertChange[] = [];
  let start: number | undefined;
  times.forEach((time, index) => {
    start ??= time;
    const next = times[index + 1];
    if (next !== undefined && next - time <= step * 1.5) return;
    changes.push({ at: iso(start), text: start - since <= step ? `${name} already firing when the window starts` : `${name} fired` });
    if (until - time > step) changes.push({ at: iso(time), text: `${name} resolved (last seen firing)` });
    else changes.push({ at: iso(time), text: `${name} still firing when the window ends` });
    start = undefined;
  });
  return changes;
}

/**
 * The alerts that fired in the window, from Prometheus's ALERTS series (query_range), oldest first;
 * a sentence instead when Prometheus cannot be asked.
 */
export async function alertsInWindow(prometheusUrl: string, window: TimeWindow): Promise<AlertChange[] | string> {
  const step = alertStepSeconds(window);
  const url = new URL("api/v1/query_range", prometheusUrl.endsWith("/") ? prometheusUrl : `${prometheusUrl}/`);
  const form = new URLSearchParams({
    query: 'ALERTS{alertstate="firing"}',
    start: String(window.since.getTime() / 1000),
    end: String(window.until.getTime() / 1000),
    step: `${step}s`,
  });
  let response: Response;
  try {
    response = await fetch(url, { method: "POST", body: form, signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    // fetch wraps the reason: a refused connection's code, or a message (fetch refuses some ports outright).
    const { cause } = error as { cause?: { code?: string; message?: string } };
    const reason = cause?.code ?? cause?.message ?? (error as Error).message;
    return `Prometheus at ${url.origin} could not be asked for the alerts of the window (${reason})`;
  }
  const body = (await response.json().catch(() => undefined)) as { status?: string; error?: string; data?: { resultType?: string; result?: { metric: Record<string, string>; values: [number, string][] }[] } } | undefined;
  if (!response.ok || body?.status !== "success" || body.data?.resultType !== "matrix") {
    return `Prometheus at ${url.origin} refused the alerts query (${response.status}${body?.error ? `: ${body.error}` : ""})`;
  }
  return (body.data.result ?? [])
    .flatMap((series) => alertChanges(series.metric, series.values.map(([at]) => Number(at)), window, step))
    .sort((a, b) => a.at.localeCompare(b.at));
}
