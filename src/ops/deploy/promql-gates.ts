import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import type { GateResult } from "./analysis.ts";

/** The gates shipped with the monitoring files; `azora deploy --gates FILE` may name another. */
export const SHIPPED_GATES_FILE = new URL("../../../deployment/monitoring/prometheus/deploy-gates.yml", import.meta.url);

const budget = {
  /** Measurements per analysis window, spread over it. */
  measurements: z.number().int().min(1).max(60).optional(),
  /** Failed measurements a gate may have in one window before it fails the analysis. */
  failureLimit: z.number().int().min(0).max(59).optional(),
};
const gatesFileSchema = z
  .object({
    ...budget,
    gates: z.array(z.object({ name: z.string().min(1), query: z.string().min(1), max: z.number() })).min(1),
  })
  .refine((file) => (file.failureLimit ?? 0) < (file.measurements ?? 1), { message: "failureLimit must be below measurements: a budget as large as the window would pass a gate that never passed", path: ["failureLimit"] });
export type PromqlGate = z.infer<typeof gatesFileSchema>["gates"][number];
export interface GatesFile {
  gates: PromqlGate[];
  measurements?: number;
  failureLimit?: number;
}

/** The gates and, when the file sets them, its failure budget (measurements, failureLimit). */
export async function loadGatesFile(file: string | URL = SHIPPED_GATES_FILE): Promise<GatesFile> {
  const parsed = gatesFileSchema.safeParse(parse(await readFile(file, "utf8")));
  if (!parsed.success) throw new Error(`${String(file)} is not a gates file: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
  return parsed.data;
}

export async function loadGates(file: string | URL = SHIPPED_GATES_FILE): Promise<PromqlGate[]> {
  return (await loadGatesFile(file)).gates;
}

/** One instant query; undefined when the result is empty (or not a number). */
export async function queryValue(prometheusUrl: string, query: string): Promise<number | undefined> {
  const url = new URL("api/v1/query", prometheusUrl.endsWith("/") ? prometheusUrl : `${prometheusUrl}/`);
  const response = await fetch(url, { method: "POST", body: new URLSearchParams({ query }), signal: AbortSignal.timeout(10_000) });
  const body = (await response.json().catch(() => undefined)) as { status?: string; error?: string; data?: { resultType: string; result: unknown } } | undefined;
  if (!response.ok || body?.status !== "success" || !body.data) throw new Error(`Prometheus refused the query (${response.status}): ${body?.error ?? "no answer"}`);
  const { resultType, result } = body.data;
  let raw: string | undefined;
  if (resultType === "scalar") raw = (result as [number, string])[1];
  else if (resultType === "vector") {
    const samples = result as { value: [number, string] }[];
    if (samples.length > 1) throw new Error(`the query returns ${samples.length} series; a gate needs one (aggregate it with sum or max)`);
    raw = samples[0]?.value[1];
  }
  const value = raw === undefined ? Number.NaN : Number(raw);
  return Number.isFinite(value) ? value : undefined;
}

export interface PromqlAnalysis {
  prometheusUrl: string;
  gates: PromqlGate[];
  /** Substituted for {{track}} and {{window}} in every query. */
  track: string;
  windowSeconds: number;
  /** Measurements per analysis, spread over the window (at least one, taken at its end). */
  measurements?: number;
  /** Failed measurements a gate may have before it fails the analysis. */
  failureLimit?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Measures every gate `measurements` times across the window; a measurement fails when the value is
 * above the gate's maximum or the query returns nothing. More than `failureLimit` failures of one gate
 * fail the analysis, with the gate's values as the reason.
 */
export async function runPromqlAnalysis(analysis: PromqlAnalysis): Promise<GateResult> {
  const measurements = Math.max(1, analysis.measurements ?? 1);
  const failureLimit = analysis.failureLimit ?? 0;
  const sleep = analysis.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const seen = new Map<string, (number | undefined)[]>(analysis.gates.map((gate) => [gate.name, []]));
  for (let taken = 0; taken < measurements; taken++) {
    if (taken > 0) await sleep((analysis.windowSeconds * 1000) / measurements);
    for (const gate of analysis.gates) {
      const query = gate.query.replaceAll("{{track}}", analysis.track).replaceAll("{{window}}", `${analysis.windowSeconds}s`);
      seen.get(gate.name)!.push(await queryValue(analysis.prometheusUrl, query));
    }
  }
  const describe = (values: (number | undefined)[]) => values.map((value) => (value === undefined ? "no data" : String(Number(value.toPrecision(4))))).join(", ");
  const failed = analysis.gates.filter((gate) => seen.get(gate.name)!.filter((value) => value === undefined || value > gate.max).length > failureLimit);
  if (failed.length > 0) {
    return { ok: false, reason: failed.map((gate) => `${gate.name} above ${gate.max} or without data (${describe(seen.get(gate.name)!)})`).join("; ") };
  }
  return { ok: true, summary: analysis.gates.map((gate) => `${gate.name} ${describe(seen.get(gate.name)!)} (max ${gate.max})`).join("; ") };
}
