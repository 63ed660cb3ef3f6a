import { outcome, type AuditFinding, type CheckOutcome } from "./finding.ts";

/** Headers every answer of the public port carries (src/platform/http.ts), and what their absence allows. */
const required: { header: string; expect: (value: string | null) => boolean; wanted: string; risk: string }[] = [
  { header: "x-content-type-options", expect: (value) => value === "nosniff", wanted: "nosniff", risk: "browsers may sniff an upload or an error as HTML or script" },
  { header: "referrer-policy", expect: (value) => value !== null && /no-referrer|same-origin|strict-origin/.test(value), wanted: "no-referrer", risk: "URLs leak to other sites in the Referer header" },
];

async function fetchHeaders(url: string, headers: Record<string, string> = {}): Promise<Headers> {
  const response = await fetch(url, { headers, redirect: "manual", signal: AbortSignal.timeout(5_000) });
  await response.body?.cancel();
  return response.headers;
}

/**
 * Probes the running gateway: the response security headers on a health answer and on an error, no
 * X-Powered-By or version in Server, and HSTS on a request that arrived over TLS through a trusted proxy
 * (checked only when the auditor's own address is a trusted proxy; otherwise not verifiable from here).
 */
export async function liveHeaderChecks(baseUrl: string, options: { proxyTrustsAuditor: boolean }): Promise<CheckOutcome> {
  let health: Headers;
  let error: Headers;
  try {
    health = await fetchHeaders(new URL("/health", baseUrl).href);
    error = await fetchHeaders(new URL("/no-such-route-security-audit", baseUrl).href);
  } catch (problem) {
    return outcome([], [{ check: "security_headers", reason: `${baseUrl} did not answer (${problem instanceof Error ? problem.message : String(problem)}); give the gateway's URL with --url` }]);
  }
  const findings: AuditFinding[] = [];
  for (const [where, headers] of [["/health", health], ["an error answer", error]] as const) {
    for (const rule of required) {
      const value = headers.get(rule.header);
      if (!rule.expect(value)) {
        findings.push({
          check: "security_headers",
          severity: "medium",
          title: `${rule.header} missing or wrong on ${where}`,
          evidence: `${rule.header}: ${value ?? "(absent)"} from ${baseUrl}; expected ${rule.wanted}: without it ${rule.risk}`,
          fix: `Make sure nothing between the client and the gateway strips it; the gateway sends ${rule.header}: ${rule.wanted} on every answer.`,
        });
      }
    }
    const powered = headers.get("x-powered-by");
    const server = headers.get("server");
    if (powered || (server && /\d/.test(server))) {
      findings.push({
        check: "security_headers",
        severity: "low",
        title: `the answer on ${where} names its software`,
        evidence: `${powered ? `X-Powered-By: ${powered}` : `Server: ${server}`} from ${baseUrl}`,
        fix: "Remove the header at the proxy (it helps attackers pick exploits).",
      });
    }
  }
  if (options.proxyTrustsAuditor) {
    const tls = await fetchHeaders(new URL("/health", baseUrl).href, { "x-forwarded-proto": "https" }).catch(() => undefined);
    const hsts = tls?.get("strict-transport-security");
    const maxAge = Number(/max-age=(\d+)/.exec(hsts ?? "")?.[1] ?? 0);
    if (maxAge < 15_552_000) {
      findings.push({
        check: "hsts",
        severity: "high",
        title: "no HSTS on answers over TLS",
        evidence: `a request with X-Forwarded-Proto: https from a trusted proxy got Strict-Transport-Security: ${hsts ?? "(absent)"} (want max-age ≥ 180 days)`,
        fix: "Keep the gateway's HSTS (it is sent when the proxy says the request came over TLS): set TRUSTED_PROXIES to the proxy and have it send X-Forwarded-Proto.",
      });
    }
  }
  return outcome(findings);
}
