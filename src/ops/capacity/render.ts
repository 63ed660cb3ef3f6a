import type { Point, Projection } from "./projection.ts";

export interface MetricReport extends Projection {
  metric: string;
  unit: "count" | "bytes" | "req/s" | "connections";
  /** Why there is no trend or value, in words. */
  note?: string;
  /** Where the figures came from, when there is more than one place (the request rate). */
  source?: string;
  points: Point[];
}

const SIZE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** A value in its unit: bytes as KiB/MiB/GiB, rates with two decimals. */
export function formatValue(value: number | undefined, unit: MetricReport["unit"]): string {
  if (value === undefined || Number.isNaN(value)) return "-";
  if (unit === "bytes") {
    let scaled = value;
    let index = 0;
    while (Math.abs(scaled) >= 1024 && index < SIZE_UNITS.length - 1) {
      scaled /= 1024;
      index++;
    }
    return `${scaled.toFixed(index === 0 ? 0 : 1)} ${SIZE_UNITS[index]}`;
  }
  return unit === "req/s" ? value.toFixed(2) : Number.isInteger(value) ? String(value) : value.toFixed(1);
}

const days = (report: MetricReport) =>
  report.daysUntilLimit === undefined ? "-" : report.daysUntilLimit === null ? "not growing" : `${report.daysUntilLimit} days`;

/** The plain table for a terminal. */
export function renderTable(reports: MetricReport[]): string {
  const rows = [["metric", "current", "growth/day", "limit", "days until limit"]];
  for (const report of reports) {
    rows.push([report.metric, formatValue(report.current, report.unit), formatValue(report.perDay, report.unit), formatValue(report.limit, report.unit), days(report)]);
  }
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd());
  const notes = reports.filter((report) => report.note).map((report) => `note: ${report.metric}: ${report.note}`);
  return [...lines, ...notes].join("\n");
}

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[char] ?? char);
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];

/** A small line chart: each series scaled to its own maximum, so growth shapes compare on one axis. */
export function renderSvg(reports: MetricReport[], width = 480, height = 160): string {
  const drawn = reports.filter((report) => report.points.length >= 2);
  const all = drawn.flatMap((report) => report.points.map((point) => point.at));
  const minAt = Math.min(...all);
  const span = Math.max(1, Math.max(...all) - minAt);
  const lines = drawn.map((report, index) => {
    const max = Math.max(1e-9, ...report.points.map((point) => point.value));
    const coordinates = report.points
      .map((point) => `${(((point.at - minAt) / span) * (width - 20) + 10).toFixed(1)},${(height - 10 - (point.value / max) * (height - 20)).toFixed(1)}`)
      .join(" ");
    const colour = COLOURS[index % COLOURS.length];
    return `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${coordinates}"><title>${escapeHtml(report.metric)}</title></polyline>`;
  });
  const legend = drawn.map((report, index) => `<text x="${10 + index * 95}" y="12" font-size="10" fill="${COLOURS[index % COLOURS.length]}">${escapeHtml(report.metric)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="growth">${[...legend, ...lines].join("")}</svg>`;
}

/** A self-contained HTML page: the table and the chart. */
export function renderHtml(reports: MetricReport[], generatedAt: Date): string {
  const rows = reports
    .map((report) => `<tr><td>${escapeHtml(report.metric)}</td><td>${formatValue(report.current, report.unit)}</td><td>${formatValue(report.perDay, report.unit)}</td><td>${formatValue(report.limit, report.unit)}</td><td>${days(report)}</td></tr>`)
    .join("\n");
  const notes = reports.filter((report) => report.note).map((report) => `<li>${escapeHtml(report.metric)}: ${escapeHtml(report.note ?? "")}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Azora OS capacity review</title></head>
<body><h1>Capacity review</h1><p>Generated ${generatedAt.toISOString()}.</p>
<table><thead><tr><th>metric</th><th>current</th><th>growth/day</th><th>limit</th><th>days until limit</th></tr></thead><tbody>
${rows}
</tbody></table>
${renderSvg(reports)}
${notes ? `<ul>${notes}</ul>` : ""}
</body></html>`;
}
