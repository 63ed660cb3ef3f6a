import { randomBytes } from "node:crypto";

export interface ApiResponse<Body = any> {
  status: number;
  headers: Headers;
  body: Body;
}

/** A thin HTTP client over fetch for talking to a real server. */
export function apiClient(baseUrl: string) {
  async function call<Body = any>(method: string, path: string, options: { token?: string; json?: unknown; headers?: Record<string, string>; raw?: string } = {}): Promise<ApiResponse<Body>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.raw;
    if (options.json !== undefined) {
      headers["content-type"] ??= "application/json";
      body = JSON.stringify(options.json);
    }
    const response = await fetch(new URL(path, baseUrl), { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: keep the text.
    }
    return { status: response.status, headers: response.headers, body: parsed as Body };
  }

  return {
    call,
    get: (path: string, token?: string) => call("GET", path, token ? { token } : {}),
    /**
     * Reads until the answer comes from the cache. After a write, each process's replay of the invalidation
     * log drops the key once more (it cannot tell which rows its own write already applied), so the entry
     * stored by the first read after a write may be gone by the second.
     */
    async cachedGet(path: string, token?: string): Promise<ApiResponse> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const answer = await call("GET", path, token ? { token } : {});
        if (answer.headers.get("x-cache") === "HIT" || Date.now() > deadline) return answer;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    /** Registers and logs in a fresh user; returns the tokens and the user's id. */
    async newUser(prefix = "user") {
      const email = `${prefix}-${randomBytes(4).toString("hex")}@example.com`;
      const password = `pw-${randomBytes(8).toString("hex")}`;
      const registered = await call("POST", "/api/auth/register", { json: { email, password } });
      if (registered.status !== 202) throw new Error(`register answered ${registered.status}`);
      const login = await call("POST", "/api/auth/login", { json: { email, password } });
      if (login.status !== 200) throw new Error(`login answered ${login.status}`);
      const me = await call("GET", "/api/auth/me", { token: login.body.accessToken });
      return { email, password, id: me.body.id as string, accessToken: login.body.accessToken as string, refreshToken: login.body.refreshToken as string };
    },
  };
}

/** Reads one sample (sum over matching label sets) from a Prometheus text exposition. */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of exposition.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

export function expectErrorShape(response: ApiResponse, status: number, code?: string): void {
  const problems: string[] = [];
  if (response.status !== status) problems.push(`status ${response.status}, expected ${status}`);
  const error = (response.body as { error?: { code?: unknown; message?: unknown; requestId?: unknown } })?.error;
  if (!error || typeof error.code !== "string" || typeof error.message !== "string" || typeof error.requestId !== "string") {
    problems.push(`body is not in the error shape: ${JSON.stringify(response.body)}`);
  } else if (code && error.code !== code) problems.push(`code ${error.code}, expected ${code}`);
  if (problems.length > 0) throw new Error(problems.join("; "));
}
