/** One observation of a metric. */
export interface Point {
  /** Milliseconds since the epoch. */
  at: number;
  value: number;
}

export interface Projection {
  current: number;
  /** Least-squares growth per day; undefined with fewer than two distinct times. */
  perDay: number | undefined;
  limit: number | undefined;
  /** Days until the current value plus the trend reaches the limit; null when it never does (flat or shrinking), undefined without a limit or a trend. */
  daysUntilLimit: number | null | undefined;
}

const DAY_MS = 86_400_000;

/** Linear least-squares slope of the points, per day. */
export function slopePerDay(points: Point[]): number | undefined {
  if (points.length < 2) return undefined;
  const xs = points.map((point) => point.at / DAY_MS);
  const meanX = xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanY = points.reduce((a, point) => a + point.value, 0) / points.length;
  let numerator = 0;
  let denominator = 0;
  points.forEach((point, index) => {
    const dx = (xs[index] ?? 0) - meanX;
    numerator += dx * (point.value - meanY);
    denominator += dx * dx;
  });
  return denominator === 0 ? undefined : numerator / denominator;
}

/** The trend of a series and, against a limit, how many days are left. */
export function project(points: Point[], current: number, limit: number | undefined): Projection {
  const perDay = slopePerDay(points);
  let daysUntilLimit: number | null | undefined;
  if (limit !== undefined && perDay !== undefined) {
    if (current >= limit) daysUntilLimit = 0;
    else daysUntilLimit = perDay > 0 ? Math.floor((limit - current) / perDay) : null;
  }
  return { current, perDay, limit, daysUntilLimit };
}
