/** Words of PromQL that look like metric names but are not. */
const keywords = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"]);

/**
 * The metric names a PromQL expression reads. A small scan, enough for the project's own expressions:
 * strings, label matchers, ranges and grouping clauses are removed first; what is left that is not a
 * function call, a keyword or part of a number is a metric name.
 */
export function metricNames(expr: string): string[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const match of text.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = match[0];
    const before = text[match.index - 1] ?? " ";
    if (/[0-9.]/.test(before)) continue; // the exponent or unit of a number (1e3, 5m)
    if (text.slice(match.index + name.length).trimStart().startsWith("(")) continue; // a function or an aggregation
    if (keywords.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** A Grafana expression made plain PromQL: its template variables replaced by what they stand for. */
export function withoutGrafanaVariables(expr: string): string {
  return expr.replaceAll("$__rate_interval", "5m").replaceAll("$__interval", "1m").replace(/\$\{?service\}?/g, ".*");
}

/** The metric names an exposition (a /metrics page) declares, histogram and summary series included. */
export function exposedMetricNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split("\n")) {
    const typed = /^# TYPE (\S+) (\S+)/.exec(line);
    if (typed) {
      const [, name, type] = typed;
      names.add(name!);
      if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${name}${suffix}`);
      if (type === "summary") for (const suffix of ["_sum", "_count"]) names.add(`${name}${suffix}`);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}
