/** One dependency probe for the detailed /health answer. */
export interface HealthCheck {
  name: string;
  run(): Promise<void>;
}

export interface CheckResult {
  status: "ok" | "down";
  latencyMs: number;
  error?: string;
}

export interface HealthReport {
  status: "ok" | "down";
  checks: Record<string, CheckResult>;
}

/** Runs every probe at once, each bounded by a timeout, and reports latency per dependency. */
export async function runHealthChecks(checks: HealthCheck[], timeoutMs = 2_000): Promise<HealthReport> {
  const results = await Promise.all(
    checks.map(async (check): Promise<[string, CheckResult]> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check.run(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return [check.name, { status: "ok", latencyMs: elapsed(started) }];
      } catch (error) {
        return [check.name, { status: "down", latencyMs: elapsed(started), error: describe(error) }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const checksByName = Object.fromEntries(results);
  const status = results.every(([, result]) => result.status === "ok") ? "ok" : "down";
  return { status, checks: checksByName };
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 10) / 10;

/** A short reason without connection strings or credentials. */
function describe(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string") return code;
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\b[a-z]+:\/\/\S+/gi, "[url]").slice(0, 200);
}
