import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../../src/platform/clock.ts";
import type { Config } from "../../src/platform/config.ts";
import type { RunningPlatform } from "../../src/runtime.ts";
import type { Backend } from "./backends.ts";
import { startTestPlatform, type TestPlatform } from "./platform.ts";
import { rawHttp } from "./raw-http.ts";
import type { ApiResponse } from "./api.ts";

/** A clock the test moves by hand; it starts on a whole hour so clock windows begin where the test expects. */
export function manualClock(): Clock & { advance(ms: number): void } {
  let now = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  return { now: () => now, advance: (ms) => void (now += ms) };
}

/** The password guard's production defaults (the other suites run with `unlimited` budgets). */
const productionGuard = { LOGIN_FREE_FAILURES: "5", LOGIN_ACCOUNT_IP_FAILURES: "10", LOGIN_IP_DAILY_FAILURES: "200", LOGIN_GLOBAL_FAILURES_PER_MINUTE: "300" };

/** The platform as `azora up` runs it, on a clock the test controls, with the guard's production budgets. */
export function startClockedPlatform(
  backend: Backend,
  clock: Clock,
  extraEnv: Record<string, string> = {},
  provisioned?: { env: Record<string, string>; dispose(): Promise<void> },
): Promise<TestPlatform> {
  return startTestPlatform(backend, { ...productionGuard, ...extraEnv }, { clock, ...(provisioned ? { provisioned } : {}) });
}

/** A login sent byte for byte (path as given, optional X-Forwarded-For), for path variants and spoofed headers. */
export function rawLogin(baseUrl: string, body: { email: string; password: string }, options: { path?: string; forwardedFor?: string } = {}): Promise<ApiResponse> {
  const json = JSON.stringify(body);
  const xff = options.forwardedFor ? `X-Forwarded-For: ${options.forwardedFor}\r\n` : "";
  return rawHttp(
    baseUrl,
    `POST ${options.path ?? "/api/auth/login"} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n${xff}Connection: close\r\n\r\n${json}`,
  );
}

/** The lines of one of the platform's log files that carry `event`, waiting briefly for the file to be written. */
export async function logEvents(platform: TestPlatform, file: string, event: string): Promise<Record<string, unknown>[]> {
  for (let attempt = 0; ; attempt++) {
    const text = await readFile(join(platform.config.paths.logs, file), "utf8").catch(() => "");
    const lines = text.split("\n").filter((line) => line.includes(`"event":"${event}"`)).map((line) => JSON.parse(line) as Record<string, unknown>);
    if (lines.length > 0 || attempt >= 20) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every log file of a running platform, flushed first, as one text: to search for what must never be logged. */
export async function logFilesText(platform: { running: RunningPlatform; config: Config }): Promise<string> {
  platform.running.context.logs.flush();
  const dir = platform.config.paths.logs;
  const names = await readdir(dir).catch(() => [] as string[]);
  return (await Promise.all(names.map((name) => readFile(join(dir, name), "utf8").catch(() => "")))).join("\n");
}

/** An error answer without its request id, to compare two answers for equality. */
export function withoutRequestId(response: ApiResponse): unknown {
  const body = response.body as { error?: Record<string, unknown> };
  return { status: response.status, contentType: response.headers.get("content-type"), error: body.error ? { ...body.error, requestId: undefined } : body };
}
