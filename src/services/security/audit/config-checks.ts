import { isIP } from "node:net";
import type { Config } from "../../../platform/config.ts";
import { outcome, type AuditFinding, type CheckOutcome } from "./finding.ts";

/** Words that mark a value copied from a template or a tutorial rather than generated. */
const placeholder = /change-?me|changeit|replace|example|default|password|secret|placeholder|dummy|test|xxxx|todo|12345/i;
export const MIN_SECRET_LENGTH = 32;

/** A secret that is short, a placeholder, or too repetitive to have come from a random generator. */
export function weakSecretReason(value: string): string | undefined {
  if (value.length < MIN_SECRET_LENGTH) return `${value.length} characters (at least ${MIN_SECRET_LENGTH})`;
  if (placeholder.test(value)) return "looks like a placeholder (a template or example value)";
  if (new Set(value).size < 10) return `only ${new Set(value).size} distinct characters (not random)`;
  return undefined;
}

/** Secrets given in the environment: AZORA_MASTER_KEY, AZORA_OPS_TOKEN, BACKUP_KEY. The value is never printed. */
export function secretValueChecks(config: Config): CheckOutcome {
  const findings: AuditFinding[] = [];
  const given: [string, string | undefined][] = [
    ["AZORA_MASTER_KEY", config.masterKey],
    ["AZORA_OPS_TOKEN", config.ops.token],
    ["BACKUP_KEY", config.backup.key],
  ];
  for (const [name, value] of given) {
    const reason = value ? weakSecretReason(value) : undefined;
    if (reason) {
      findings.push({
        check: "weak_secret",
        severity: "high",
        title: `${name} is weak`,
        evidence: `${name}: ${reason}`,
        fix:
          name === "AZORA_MASTER_KEY"
            ? "Generate a new value (openssl rand -base64 48); the master key seals the signing keys, so a change needs a planned key rotation (docs/operations.md)."
            : `Generate a new value (openssl rand -base64 48), set ${name} to it and restart the processes that read it.`,
      });
    }
  }
  return outcome(findings);
}

const loopbackHosts = new Set(["127.0.0.1", "::1", "localhost"]);

/**
 * The ops port answers /metrics, /debug and operator commands: beyond loopback it needs a NetworkPolicy. In a
 * Kubernetes pod (KUBERNETES_SERVICE_HOST set) the shipped policy file must admit only the monitoring namespace to it.
 */
export function opsPortCheck(config: Config, env: NodeJS.ProcessEnv, networkPolicyText: string | undefined): CheckOutcome {
  if (loopbackHosts.has(config.ops.host)) return outcome();
  const inKubernetes = Boolean(env.KUBERNETES_SERVICE_HOST);
  const port = String(config.ops.port);
  const guarded = inKubernetes && networkPolicyText !== undefined && /kind:\s*NetworkPolicy/.test(networkPolicyText) && networkPolicyText.includes(`port: ${port}`);
  if (guarded) return outcome();
  return outcome([
    {
      check: "ops_port_exposed",
      severity: "high",
      title: "the ops port is reachable beyond loopback without a NetworkPolicy",
      evidence: `OPS_HOST=${config.ops.host} (port ${port}); ${inKubernetes ? `no NetworkPolicy names port ${port}` : "not in Kubernetes (KUBERNETES_SERVICE_HOST unset), so no NetworkPolicy applies"}`,
      fix: "Set OPS_HOST=127.0.0.1 (scrape through a local agent or an SSH tunnel), or run in Kubernetes with deployment/kubernetes/base/network-policies.yaml applied.",
    },
  ]);
}

/** A trusted range this wide lets any client choose the IP that rate limits, lockout and the logs use. */
export function trustedProxiesCheck(config: Config): CheckOutcome {
  const findings: AuditFinding[] = [];
  for (const entry of config.trustedProxies) {
    const [address = "", prefixText] = entry.split("/");
    const family = isIP(address);
    if (!family || prefixText === undefined || !/^\d+$/.test(prefixText)) continue;
    const prefix = Number(prefixText);
    const tooWide = family === 4 ? prefix < 8 : prefix < 16;
    if (tooWide) {
      findings.push({
        check: "trusted_proxies_too_wide",
        severity: "high",
        title: "TRUSTED_PROXIES trusts most of the internet",
        evidence: `TRUSTED_PROXIES contains ${entry}: any client in it can set X-Forwarded-For and pick the address it is limited and logged by`,
        fix: "List only the load balancer's or ingress controller's addresses (or its private subnet, e.g. 10.0.0.0/8).",
      });
    }
  }
  if (config.environment === "production" && config.trustedProxies.length === 0) {
    findings.push({
      check: "no_trusted_proxy",
      severity: "medium",
      title: "production without TRUSTED_PROXIES",
      evidence: "AZORA_ENV=production and TRUSTED_PROXIES is empty: behind a proxy every client has the proxy's address (one rate-limit budget for all), and X-Forwarded-Proto is ignored so HSTS is never sent",
      fix: "Set TRUSTED_PROXIES to the ingress controller's addresses or subnet.",
    });
  }
  return outcome(findings);
}
