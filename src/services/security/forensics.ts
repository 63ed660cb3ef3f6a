import { LogEvent } from "../../platform/log-events.ts";
import { currentLogPath, logFileLines, vanished } from "../../platform/log-file-names.ts";
import { logFiles } from "./log-reader.ts";

/** What one line of the incident window was, for the timeline. */
export type EventKind =
  | "login_failed"
  | "login_succeeded"
  | "account_locked"
  | "token_reuse"
  | "logout"
  | "rate_limited"
  | "read"
  | "write"
  | "export"
  | "erasure"
  | "admin_action"
  | "suspicious"
  | "ops_token_used"
  | "account_change";

export interface TimelineEntry {
  time: string;
  kind: EventKind;
  stream: string;
  ip?: string;
  user?: string;
  account?: string;
  tokenId?: string;
  detail: string;
}

/** Per account (user id, else the keyed account stand-in) or per IP: what happened, when, and with whom. */
export interface Subject {
  id: string;
  first: string;
  last: string;
  counts: Partial<Record<EventKind, number>>;
  ips: string[];
  users: string[];
}

const streams = ["auth", "api", "security"] as const;

const byEvent: Partial<Record<string, EventKind>> = {
  [LogEvent.LOGIN_FAILED]: "login_failed",
  [LogEvent.LOGIN_SUCCEEDED]: "login_succeeded",
  [LogEvent.ACCOUNT_LOCKED]: "account_locked",
  [LogEvent.TOKEN_REUSED]: "token_reuse",
  [LogEvent.LOGOUT]: "logout",
  [LogEvent.RATE_LIMIT_EXCEEDED]: "rate_limited",
  [LogEvent.GDPR_EXPORT]: "export",
  [LogEvent.GDPR_ERASURE]: "erasure",
  [LogEvent.ROLE_CHANGED]: "admin_action",
  [LogEvent.ACCOUNT_DISABLED]: "admin_action",
  [LogEvent.ACCOUNT_ENABLED]: "admin_action",
  [LogEvent.MAINTENANCE_MODE_CHANGED]: "admin_action",
  [LogEvent.SECURITY_POLICY_UPDATED]: "admin_action",
  [LogEvent.SUSPICIOUS_ACTIVITY]: "suspicious",
  [LogEvent.OPS_TOKEN_USED]: "ops_token_used",
  [LogEvent.PASSWORD_RESET]: "account_change",
  [LogEvent.USER_REGISTERED]: "account_change",
};

const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);

/** The timeline entry for one parsed line, or undefined for lines that say nothing about who did what. */
export function classify(line: Record<string, unknown>, stream: string): TimelineEntry | undefined {
  const event = text(line.event);
  if (!event) return undefined;
  let kind = byEvent[event];
  let detail = text(line.msg) ?? event;
  if (event === LogEvent.HTTP_REQUEST) {
    // The gateway and the service both log a request in split mode; only answers to a caller or an IP matter here.
    const method = text(line.method) ?? "GET";
    const path = text(line.path) ?? text(line.route) ?? "";
    kind = /\/export$/.test(path) ? "export" : method === "GET" || method === "HEAD" ? "read" : "write";
    detail = `${method} ${path} → ${String(line.status ?? "?")}`;
  } else if (kind) {
    const extra = ["reason", "kind", "route", "role", "purpose", "command", "family"].map((key) => (text(line[key]) ? `${key}=${text(line[key])}` : "")).filter(Boolean);
    detail = `${event}${extra.length > 0 ? ` (${extra.join(", ")})` : ""}`;
  }
  if (!kind) return undefined;
  const user = text(line.userId) ?? text(line.user);
  return {
    time: String(line.time),
    kind,
    stream,
    ...(text(line.ip) ? { ip: text(line.ip) } : {}),
    ...(user ? { user } : {}),
    ...(text(line.account) ? { account: text(line.account) } : {}),
    ...(text(line.tokenId) ? { tokenId: text(line.tokenId) } : {}),
    detail,
  };
}

/**
 * Streams every log line of the window (current and rotated files), handing the raw text (kept byte for byte
 * in the evidence bundle) and its timeline entry. Lines without a time, or outside the window, are skipped.
 */
export async function readWindow(logDir: string, since: number, until: number, onLine: (stream: string, raw: string, entry: TimelineEntry | undefined) => void): Promise<{ files: string[]; lines: number }> {
  let lines = 0;
  const files: string[] = [];
  for (const stream of streams) {
    for (const listed of await logFiles(logDir, [stream])) {
      // A rotated file compressed since it was listed is read from its .gz; one pruned since is gone.
      const path = await currentLogPath(listed);
      if (path === undefined) continue;
      try {
        for await (const textLine of logFileLines(path)) {
          let line: Record<string, unknown>;
          try {
            line = JSON.parse(textLine) as Record<string, unknown>;
          } catch {
            continue;
          }
          const at = Date.parse(String(line.time));
          if (!(at >= since && at < until)) continue;
          lines++;
          onLine(stream, textLine, classify(line, stream));
        }
      } catch (error) {
        // Pruned between the check and the open: as if it had been gone before the check.
        if (vanished(error)) continue;
        throw new Error(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
      }
      files.push(path);
    }
  }
  return { files, lines };
}

/** Groups the timeline per account and per IP. */
export function subjects(timeline: TimelineEntry[]): { accounts: Subject[]; ips: Subject[] } {
  const accounts = new Map<string, Subject>();
  const ips = new Map<string, Subject>();
  const note = (map: Map<string, Subject>, id: string, entry: TimelineEntry) => {
    const subject = map.get(id) ?? { id, first: entry.time, last: entry.time, counts: {}, ips: [], users: [] };
    if (entry.time < subject.first) subject.first = entry.time;
    if (entry.time > subject.last) subject.last = entry.time;
    subject.counts[entry.kind] = (subject.counts[entry.kind] ?? 0) + 1;
    if (entry.ip && !subject.ips.includes(entry.ip)) subject.ips.push(entry.ip);
    const who = entry.user ?? entry.account;
    if (who && !subject.users.includes(who)) subject.users.push(who);
    map.set(id, subject);
  };
  for (const entry of timeline) {
    const who = entry.user ?? entry.account;
    if (who) note(accounts, who, entry);
    if (entry.ip) note(ips, entry.ip, entry);
  }
  const order = (a: Subject, b: Subject) => a.first.localeCompare(b.first);
  return { accounts: [...accounts.values()].sort(order), ips: [...ips.values()].sort(order) };
}

const alarming: EventKind[] = ["login_failed", "account_locked", "token_reuse", "rate_limited", "suspicious", "export", "erasure", "admin_action"];

/**
 * Accounts the incident touched: any with a security event (failures, lock, reuse, refusals, flagged
 * activity, exports, erasure, admin changes), and any that logged in from an IP that had such events.
 */
export function affectedAccounts(accounts: Subject[], ips: Subject[]): Subject[] {
  const hotIps = new Set(ips.filter((ip) => alarming.some((kind) => (ip.counts[kind] ?? 0) > 0)).map((ip) => ip.id));
  return accounts.filter((account) => alarming.some((kind) => (account.counts[kind] ?? 0) > 0) || ((account.counts.login_succeeded ?? 0) > 0 && account.ips.some((ip) => hotIps.has(ip))));
}
