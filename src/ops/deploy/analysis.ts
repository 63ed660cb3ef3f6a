// A gate, as Argo Rollouts and Flagger define one: a measurement over a window with a threshold, where an
// empty result (no requests seen) is a failure, never a pass.

export interface RequestCounts {
  total: number;
  errors: number;
}

/** Sums http_requests_total, and its 5xx part, from a Prometheus text exposition. */
export function requestCounts(exposition: string): RequestCounts {
  let total = 0;
  let errors = 0;
  for (const line of exposition.split("\n")) {
    if (!line.startsWith("http_requests_total{")) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (!Number.isFinite(value)) continue;
    total += value;
    if (/status="5\d\d"/.test(line)) errors += value;
  }
  return { total, errors };
}

export async function scrape(opsUrl: string): Promise<RequestCounts> {
  const response = await fetch(new URL("/metrics", opsUrl), { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`metrics answered ${response.status}`);
  return requestCounts(await response.text());
}

export type GateResult = { ok: true; summary: string } | { ok: false; reason: string };

/** The error-rate gate between two scrapes of the same process. */
export function errorRateGate(before: RequestCounts, after: RequestCounts, maxErrorPercent: number): GateResult {
  const total = after.total - before.total;
  const errors = after.errors - before.errors;
  if (total <= 0) return { ok: false, reason: "no requests reached the new version during the analysis window (an empty result fails the gate)" };
  const percent = (errors / total) * 100;
  const summary = `${errors} of ${total} requests failed (${percent.toFixed(2)} %, limit ${maxErrorPercent} %)`;
  return percent > maxErrorPercent ? { ok: false, reason: `error rate too high: ${summary}` } : { ok: true, summary };
}
