import { request } from "undici";
import type { Point } from "./projection.ts";

/** Daily request rate (requests per second, averaged over each day) from a Prometheus server. */
export async function requestRateSeries(baseUrl: string, days: number, now: Date): Promise<Point[] | string> {
  const end = Math.floor(now.getTime() / 1000);
  const url = new URL("/api/v1/query_range", baseUrl);
  url.searchParams.set("query", "sum(rate(http_requests_total[1d]))");
  url.searchParams.set("start", String(end - (days - 1) * 86_400));
  url.searchParams.set("end", String(end));
  url.searchParams.set("step", "86400");
  try {
    const response = await request(url, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    const body = (await response.body.json()) as { status?: string; data?: { result?: { values?: [number, string][] }[] } };
    if (response.statusCode !== 200 || body.status !== "success") return `Prometheus answered ${response.statusCode}`;
    const values = body.data?.result?.[0]?.values ?? [];
    return values.map(([at, value]) => ({ at: at * 1000, value: Number(value) }));
  } catch (error) {
    return `Prometheus at ${url.origin} is unreachable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
}
