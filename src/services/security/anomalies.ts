import { LogEvent } from "../../platform/log-events.ts";
import type { LogLine } from "./log-reader.ts";
import { networkPrefix } from "./network-prefix.ts";
import type { SecurityPolicy } from "./policy.ts";
import { busiestWindow, groupBy, Tally } from "./sliding-window.ts";

/** An authentication event reduced to what the detectors use. */
export interface AuthEvent {
  at: number;
  kind: "failed" | "succeeded" | "reused" | "limited";
  ip: string;
  /** Who was targeted: the keyed account stand-in, else the user id, else the masked email. */
  account?: string;
  userId?: string;
  maskedEmail?: string;
  familyId?: string;
  route?: string;
}

export type FindingKind =
  | "failed_login_burst_ip"
  | "failed_login_burst_account"
  | "password_spraying"
  | "credential_stuffing"
  | "impossible_travel"
  | "rate_limit_violator"
  | "token_reuse"
  | "unusual_read_volume_user"
  | "unusual_read_volume_token"
  | "gdpr_export_burst"
  | "enumeration"
  | "admin_granted"
  | "disabled_account_login"
  | "off_hours_admin_access"
  | "admin_login_new_network";

/** One anomaly with its evidence: the events' span, how many, and every IP and account involved. */
export interface Finding {
  kind: FindingKind;
  severity: "high" | "medium";
  /** What the finding is about: an IP, a network, an account or a token family. */
  subject: string;
  first: string;
  last: string;
  events: number;
  ips: string[];
  /** Account stand-ins (`account` field of the lines) or user ids. */
  accounts: string[];
  userIds: string[];
  summary: string;
}

/** The raw-text test for lines the anomaly detector needs (most lines are access lines it skips unparsed). */
export function isAnomalyLine(raw: string): boolean {
  return raw.includes('"event":"LOGIN_') || raw.includes('"event":"TOKEN_REUSED"') || raw.includes('"event":"RATE_LIMIT_EXCEEDED"');
}

const str = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);

/** Reduces a log line to an AuthEvent, or undefined when the detector has no use for it. */
export function toAuthEvent(line: LogLine): AuthEvent | undefined {
  const at = Date.parse(line.time);
  const ip = str(line.ip) ?? "unknown";
  const userId = str(line.userId) ?? str(line.user);
  switch (line.event) {
    case LogEvent.LOGIN_FAILED:
    case LogEvent.LOGIN_SUCCEEDED:
      return {
        at,
        kind: line.event === LogEvent.LOGIN_FAILED ? "failed" : "succeeded",
        ip,
        account: str(line.account) ?? userId ?? str(line.email),
        ...(userId ? { userId } : {}),
        ...(str(line.email) ? { maskedEmail: str(line.email) } : {}),
      };
    case LogEvent.TOKEN_REUSED:
      return { at, kind: "reused", ip, ...(userId ? { userId, account: userId } : {}), ...(str(line.familyId) ? { familyId: str(line.familyId) } : {}) };
    case LogEvent.RATE_LIMIT_EXCEEDED:
      return { at, kind: "limited", ip, ...(userId ? { userId } : {}), ...(str(line.route) ? { route: str(line.route) } : {}) };
    default:
      return undefined;
  }
}

const sortedUnique = (values: Iterable<string | undefined>) => [...new Set([...values].filter((value): value is string => value !== undefined))].sort();

export function evidence(kind: FindingKind, severity: Finding["severity"], subject: string, events: readonly Pick<AuthEvent, "at" | "ip" | "account" | "userId">[], summary: string): Finding {
  return {
    kind,
    severity,
    subject,
    first: new Date(events[0]!.at).toISOString(),
    last: new Date(events[events.length - 1]!.at).toISOString(),
    events: events.length,
    ips: sortedUnique(events.map((event) => event.ip)),
    accounts: sortedUnique(events.map((event) => event.account)),
    userIds: sortedUnique(events.map((event) => event.userId)),
    summary,
  };
}

/** Runs every detector over the events (any order) with the policy's thresholds; findings sorted by time. */
export function detectAnomalies(all: readonly AuthEvent[], policy: SecurityPolicy["anomalies"]): Finding[] {
  const events = [...all].sort((a, b) => a.at - b.at);
  const failed = events.filter((event) => event.kind === "failed");
  const findings: Finding[] = [];

  const burst = policy.failedLoginBurst;
  for (const [ip, group] of groupBy(failed, (event) => event.ip)) {
    let inside = 0;
    const peak = busiestWindow(group, burst.windowSeconds * 1000, { add: () => inside++, remove: () => inside--, satisfied: () => inside >= burst.perIp });
    if (peak) {
      const window = group.slice(peak.first, peak.last + 1);
      findings.push(evidence("failed_login_burst_ip", "high", ip, window, `${window.length} failed logins from ${ip} within ${burst.windowSeconds} s`));
    }
  }
  for (const [account, group] of groupBy(failed, (event) => event.account)) {
    let inside = 0;
    const peak = busiestWindow(group, burst.windowSeconds * 1000, { add: () => inside++, remove: () => inside--, satisfied: () => inside >= burst.perAccount });
    if (peak) {
      const window = group.slice(peak.first, peak.last + 1);
      findings.push(evidence("failed_login_burst_account", "high", account, window, `${window.length} failed logins against account ${account} within ${burst.windowSeconds} s`));
    }
  }

  const spray = policy.passwordSpraying;
  for (const [network, group] of groupBy(failed, (event) => networkPrefix(event.ip, spray.prefixBitsV4, spray.prefixBitsV6))) {
    const accounts = new Tally();
    let inside = 0;
    const peak = busiestWindow(group, spray.windowSeconds * 1000, {
      add: (event) => (inside++, accounts.add(event.account ?? "?")),
      remove: (event) => (inside--, accounts.remove(event.account ?? "?")),
      satisfied: () => accounts.distinct >= spray.minAccounts && inside / accounts.distinct <= spray.maxTriesPerAccount,
    });
    if (peak) {
      const window = group.slice(peak.first, peak.last + 1);
      const found = evidence("password_spraying", "high", network, window, "");
      found.summary = `${found.accounts.length} accounts tried ${window.length} times from ${found.ips.length} IP(s) in ${network} within ${spray.windowSeconds} s`;
      findings.push(found);
    }
  }

  const stuffing = policy.credentialStuffing;
  for (const [account, group] of groupBy(failed, (event) => event.account)) {
    const ips = new Tally();
    const peak = busiestWindow(group, stuffing.windowSeconds * 1000, {
      add: (event) => ips.add(event.ip),
      remove: (event) => ips.remove(event.ip),
      satisfied: () => ips.distinct >= stuffing.minIps,
    });
    if (peak) {
      const window = group.slice(peak.first, peak.last + 1);
      const found = evidence("credential_stuffing", "high", account, window, "");
      found.summary = `account ${account} tried from ${found.ips.length} IPs (${window.length} failures) within ${stuffing.windowSeconds} s`;
      findings.push(found);
    }
  }

  const travel = policy.impossibleTravel;
  const succeeded = events.filter((event) => event.kind === "succeeded");
  for (const [user, group] of groupBy(succeeded, (event) => event.userId ?? event.account)) {
    for (let index = 1; index < group.length; index++) {
      const [before, after] = [group[index - 1]!, group[index]!];
      const from = networkPrefix(before.ip, travel.prefixBitsV4, travel.prefixBitsV6);
      const to = networkPrefix(after.ip, travel.prefixBitsV4, travel.prefixBitsV6);
      if (from !== to && after.at - before.at <= travel.withinSeconds * 1000) {
        const seconds = Math.round((after.at - before.at) / 1000);
        findings.push(evidence("impossible_travel", "medium", user, [before, after], `account ${user} logged in from ${from} and ${to} ${seconds} s apart`));
        break;
      }
    }
  }

  const limits = policy.rateLimitViolators;
  for (const [who, group] of groupBy(events.filter((event) => event.kind === "limited"), (event) => (event.userId ? `user ${event.userId}` : event.ip))) {
    let inside = 0;
    const peak = busiestWindow(group, limits.windowSeconds * 1000, { add: () => inside++, remove: () => inside--, satisfied: () => inside >= limits.minRefusals });
    if (peak) {
      const window = group.slice(peak.first, peak.last + 1);
      findings.push(evidence("rate_limit_violator", "medium", who, window, `${window.length} requests refused by the rate limit for ${who} within ${limits.windowSeconds} s`));
    }
  }

  const reused = events.filter((event) => event.kind === "reused");
  for (const [family, group] of groupBy(reused, (event) => event.familyId ?? event.userId ?? event.ip)) {
    if (group.length < policy.tokenReuse.minEvents) continue;
    findings.push(evidence("token_reuse", "high", family, group, `refresh token of ${group[0]!.userId ?? "an unknown user"} reused (${group.length}×) from ${sortedUnique(group.map((event) => event.ip)).join(", ")}; its token family was revoked`));
  }

  return findings.sort((a, b) => a.first.localeCompare(b.first) || a.kind.localeCompare(b.kind));
}
