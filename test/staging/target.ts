// Where the staging suites send their requests. They speak only the public HTTP contract, so they run
// against any deployment: staging after a deploy (AZORA_BASE_URL), or a local `azora up` inside npm test.

/** Every request of these suites has its own deadline, so a hung deployment fails fast instead of stalling. */
export const requestDeadlineMs = 5_000;

/** AZORA_BASE_URL, checked: the suites refuse to start without a usable http(s) URL. */
export function baseUrlFromEnvironment(env: NodeJS.ProcessEnv = process.env): string {
  const value = env.AZORA_BASE_URL;
  if (!value) throw new Error("Set AZORA_BASE_URL to the deployment's public URL, e.g. AZORA_BASE_URL=https://api.staging.azora.os npm run test:smoke:staging");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`AZORA_BASE_URL is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`AZORA_BASE_URL must be http:// or https://, not ${url.protocol}`);
  return url.href;
}

export interface Answer<Body = any> {
  status: number;
  headers: Headers;
  body: Body;
}

/** One request to the deployment under test, JSON in and out, within requestDeadlineMs. */
export async function request<Body = any>(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; json?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer<Body>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.json !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers,
    body: options.json === undefined ? undefined : JSON.stringify(options.json),
    signal: AbortSignal.timeout(requestDeadlineMs),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: the text itself
  }
  return { status: response.status, headers: response.headers, body: body as Body };
}

/** The error shape every failure has: {"error":{"code","message","requestId"}} with the expected status. */
export function errorOf(answer: Answer): { status: number; code: unknown; hasMessage: boolean; hasRequestId: boolean } {
  const error = (answer.body as { error?: Record<string, unknown> } | undefined)?.error;
  return { status: answer.status, code: error?.code, hasMessage: typeof error?.message === "string", hasRequestId: typeof error?.requestId === "string" };
}
