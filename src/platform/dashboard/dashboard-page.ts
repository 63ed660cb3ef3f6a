import type { Figures } from "./figures.ts";

const colours = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];
const HOUR_MS = 3_600_000;

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Numbers as an operator reads them: 3 significant digits, a unit, "–" for no data. */
export function formatValue(value: number | null | undefined, unit: "" | "/s" | "%" | "s"): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (unit === "%") return `${Number((value * 100).toPrecision(3))} %`;
  if (unit === "s") return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toPrecision(3)} s`;
  return `${Number(value.toPrecision(3))}${unit}`;
}

const smallestPeak = { "": 1, "/s": 0.1, "%": 0.01, s: 0.01 };

/** How far back a chart's left edge is, as its axis label says it. */
const ago = (ms: number) => (ms >= 60_000 ? `−${Math.round(ms / 60_000)} min` : `−${Math.max(1, Math.round(ms / 1000))} s`);

/**
 * One line chart in SVG: one polyline per series, its peak on the y axis. The x axis spans the last hour,
 * or the time since the first reading when the process has run for less (so a fresh start is readable).
 */
function chart(title: string, unit: "" | "/s" | "%" | "s", at: number[], lines: Record<string, (number | null)[]>, now: number): string {
  const [width, height, left, bottom] = [520, 150, 48, 20];
  const values = Object.values(lines).flat().filter((value): value is number => value !== null && Number.isFinite(value));
  const peak = Math.max(...values, smallestPeak[unit]);
  const start = Math.max(now - HOUR_MS, Math.min(at[0] ?? now - HOUR_MS, now - 1000));
  const x = (t: number) => left + ((t - start) / (now - start)) * (width - left - 8);
  const y = (v: number) => 8 + (1 - v / peak) * (height - bottom - 8);
  const polylines = Object.entries(lines).map(([name, points], i) => {
    const coords = points.flatMap((value, j) => (value === null || !Number.isFinite(value) ? [] : [`${x(at[j]!).toFixed(1)},${y(value).toFixed(1)}`]));
    return `<polyline class="series" data-series="${escape(name)}" fill="none" stroke="${colours[i % colours.length]}" stroke-width="2" points="${coords.join(" ")}"/>`;
  });
  const legend = Object.keys(lines).map((name, i) => `<span class="key"><span class="swatch" style="background:${colours[i % colours.length]}"></span>${escape(name)}</span>`).join(" ");
  return `<figure class="chart"><figcaption>${escape(title)}</figcaption>
<svg role="img" aria-label="${escape(title)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
<rect x="${left}" y="8" width="${width - left - 8}" height="${height - bottom - 8}" fill="#f8fafc" stroke="#cbd5e1"/>
<text x="${left - 4}" y="16" text-anchor="end" font-size="10">${escape(formatValue(peak, unit))}</text>
<text x="${left - 4}" y="${height - bottom}" text-anchor="end" font-size="10">0</text>
<text x="${left}" y="${height - 6}" font-size="10">${ago(now - start)}</text><text x="${width - 8}" y="${height - 6}" text-anchor="end" font-size="10">now</text>
${polylines.join("\n")}
</svg><div class="legend">${legend}</div></figure>`;
}

/** The ops dashboard: plain HTML and inline SVG, no script, readable in any browser or with curl. */
export function renderDashboardPage(figures: Figures, now: number): string {
  const { series, current } = figures;
  const alerts = figures.alerts.length === 0
    ? `<p class="ok">No alerts: every rule threshold is respected.</p>`
    : `<table><tr><th>alert</th><th>severity</th><th>state</th><th>subject</th><th>value</th></tr>${figures.alerts
        .map((a) => `<tr class="${a.state}"><td>${a.alert}</td><td>${a.severity}</td><td>${a.state}</td><td>${escape(a.subject)}</td><td>${Number(a.value.toPrecision(3))}</td></tr>`)
        .join("")}</table>`;
  const rows = figures.services
    .map((s) => `<tr><td>${escape(s)}</td><td>${formatValue(current.requestRate[s], "/s")}</td><td>${formatValue(current.errorRatio[s], "%")}</td><td>${formatValue(current.p95Seconds[s], "s")}</td></tr>`)
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Azora OS operations dashboard</title>
<meta http-equiv="refresh" content="10">
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#0f172a}h1{font-size:20px}h2{font-size:16px;margin-top:24px}
.grid{display:flex;flex-wrap:wrap;gap:16px}.chart{margin:0}figcaption{font-weight:600;margin-bottom:4px}
table{border-collapse:collapse}td,th{border:1px solid #cbd5e1;padding:4px 8px;text-align:left}
.firing{background:#fee2e2}.pending{background:#fef9c3}.ok{color:#15803d}.legend{font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;margin:0 4px 0 8px}
</style></head><body>
<h1>Azora OS operations dashboard</h1>
<p>The last hour (or since start), read from this process's own metrics (${figures.sampleCount} readings). Updated ${escape(figures.generatedAt)}. The same figures: <code>azora metrics</code>.</p>
<h2>Alerts</h2>${alerts}
<h2>Now (last 5 minutes)</h2>
<table><tr><th>service</th><th>requests</th><th>errors (5xx)</th><th>p95</th></tr>${rows}</table>
<p>Active users: ${current.activeUsers} · Database connections: ${current.dbConnections} of ${current.dbConnectionsMax} · Failed logins: ${formatValue(current.loginFailureRate, "/s")} · Cache hit ratio: ${formatValue(current.cacheHitRatio, "%")} · Disk free: ${formatValue(current.diskFreeRatio, "%")}</p>
<h2>Last hour</h2>
<div class="grid">
${chart("Request rate", "/s", series.at, series.requestRate, now)}
${chart("Error rate (5xx)", "%", series.at, series.errorRatio, now)}
${chart("p95 response time", "s", series.at, series.p95Seconds, now)}
${chart("Active users", "", series.at, { "active users": series.activeUsers }, now)}
${chart("Database connections", "", series.at, { "in use": series.dbConnections }, now)}
${chart("Failed logins", "/s", series.at, { "failed logins": series.loginFailureRate }, now)}
${chart("Cache hit ratio", "%", series.at, { "hit ratio": series.cacheHitRatio }, now)}
</div>
</body></html>`;
}
