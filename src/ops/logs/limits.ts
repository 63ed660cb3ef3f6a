/** Parses "100M", "512k", "1G" or a plain byte count; undefined when it is none of those. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+)([kmg]?)b?$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? "").toLowerCase()] ?? 1;
  return Number(match[1]) * unit;
}

/** Parses "30m", "12h", "1d", "2w" into milliseconds; undefined when it is none of those. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)([mhdw])$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[(match[2] ?? "").toLowerCase()] ?? 0;
  const value = Number(match[1]) * unit;
  return value > 0 ? value : undefined;
}
