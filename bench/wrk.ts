import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { spawnPinned, stopChild } from "./children.ts";

/**
 * wrk sends the Authorization header taken from the environment (so the token is not on a command line) and,
 * when done, prints one machine-readable line; latencies are in microseconds. With BENCH_DELAY_MS each
 * connection waits that long after each answer before its next request (a paced run, see runWrk's rps).
 */
const script = `
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization ~= nil and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause ~= nil and pause > 0 then
  delay = function()
    return pause
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\\"requests\\":%.0f,\\"duration_us\\":%.0f,\\"bytes\\":%.0f,\\"mean_us\\":%.1f,\\"p50_us\\":%.0f,\\"p90_us\\":%.0f,\\"p99_us\\":%.0f,\\"max_us\\":%.0f,\\"errors\\":{\\"connect\\":%.0f,\\"read\\":%.0f,\\"write\\":%.0f,\\"status\\":%.0f,\\"timeout\\":%.0f}}\\n",
    summary.requests, summary.duration, summary.bytes, latency.mean,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;

export interface WrkErrors {
  connect: number;
  read: number;
  write: number;
  /** Responses that were not 2xx or 3xx. */
  status: number;
  timeout: number;
}

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: WrkErrors;
}

export async function writeWrkScript(dir: string): Promise<string> {
  const path = join(dir, "bench.lua");
  await writeFile(path, script);
  return path;
}

export interface WrkOptions {
  url: string;
  durationS: number;
  connections: number;
  threads: number;
  cpus: string;
  scriptPath: string;
  authorization?: string;
  /**
   * Paced instead of flat out: about this many requests a second. Each connection pauses (whole
   * milliseconds, wrk's granularity) after each answer, so the rate reached is a little under it; the
   * result reports the rate reached.
   */
  rps?: number;
}

/** One wrk run pinned to the load generator's cores; bounded in time, it never outlives its deadline. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    "-t", String(options.threads),
    "-c", String(options.connections),
    "-d", `${options.durationS}s`,
    "--timeout", "10s",
    "-s", options.scriptPath,
    options.url,
  ];
  const child = spawnPinned(options.cpus, "wrk", args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      BENCH_AUTHORIZATION: options.authorization ?? "",
      BENCH_DELAY_MS: options.rps ? String(Math.max(1, Math.round((options.connections * 1000) / options.rps))) : "",
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const deadline = setTimeout(() => void stopChild(child, 2_000, "SIGINT"), (options.durationS + 30) * 1000);
  const code = await exited;
  clearTimeout(deadline);

  const line = stdout.split("\n").find((text) => text.startsWith("BENCH_JSON "));
  if (code !== 0 || !line) {
    throw new Error(`wrk failed (exit ${code}) against ${options.url}:\n${stderr || stdout}`);
  }
  const raw = JSON.parse(line.slice("BENCH_JSON ".length)) as {
    requests: number;
    duration_us: number;
    mean_us: number;
    p50_us: number;
    p90_us: number;
    p99_us: number;
    max_us: number;
    errors: WrkErrors;
  };
  const durationS = raw.duration_us / 1e6;
  return {
    requests: raw.requests,
    durationS,
    rps: durationS > 0 ? raw.requests / durationS : 0,
    meanMs: raw.mean_us / 1000,
    p50Ms: raw.p50_us / 1000,
    p90Ms: raw.p90_us / 1000,
    p99Ms: raw.p99_us / 1000,
    maxMs: raw.max_us / 1000,
    errors: raw.errors,
  };
}

export function errorCount(errors: WrkErrors): number {
  return errors.connect + errors.read + errors.write + errors.status + errors.timeout;
}
