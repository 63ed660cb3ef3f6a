import { LogEvent } from "../../platform/log-events.ts";
import { evidence, type Finding } from "./anomalies.ts";
import type { LogLine } from "./log-reader.ts";
import { networkPrefix } from "./network-prefix.ts";
import type { SecurityPolicy } from "./policy.ts";
import { groupBy } from "./sliding-window.ts";

const DAY = 86_400_000;
type Seen = { at: number; ip: string; userId?: string; account?: string };

/** Who used administrative power in the window: per admin, and the ops token. */
export interface AccessUsage {
  admins: { userId: string; requests: number; logins: number; ips: string[] }[];
  opsToken: { uses: number; ips: string[]; commands: string[] };
}

/** The raw-text test for lines the access monitor needs. */
export function isAccessLine(raw: string): boolean {
  return (
    raw.includes('"event":"ROLE_CHANGED"') ||
    raw.includes('"event":"OPS_TOKEN_USED"') ||
    raw.includes('"event":"LOGIN_') ||
    (raw.includes('"event":"http_request"') && raw.includes('"user":"'))
  );
}

/**
 * Administrative access over one pass of the lines (any order). Admins are the users given the admin
 * role in the logs read (ROLE_CHANGED, window and baseline days) and those named by the caller; the
 * baseline days before the window hold each admin's known networks.
 */
export function createAccessMonitor(window: { since: number; until: number }, policy: SecurityPolicy["access"], namedAdmins: string[]) {
  const readSince = window.since - policy.baselineDays * DAY;
  const roleChanges: (Seen & { role: string })[] = [];
  const requests: Seen[] = [];
  const logins: Seen[] = [];
  const disabled: Seen[] = [];
  const opsUses: (Seen & { command: string })[] = [];
  const prefix = (ip: string) => networkPrefix(ip, policy.prefixBitsV4, policy.prefixBitsV6);
  const str = (value: unknown) => (typeof value === "string" ? value : undefined);

  return {
    readSince,
    add(line: LogLine): void {
      const at = Date.parse(line.time);
      const ip = str(line.ip) ?? "unknown";
      if (line.event === LogEvent.ROLE_CHANGED && str(line.userId)) roleChanges.push({ at, ip, userId: str(line.userId)!, role: String(line.role) });
      else if (line.event === LogEvent.LOGIN_SUCCEEDED && str(line.userId)) logins.push({ at, ip, userId: str(line.userId)! });
      else if (at < window.since) return;
      else if (line.event === LogEvent.OPS_TOKEN_USED) opsUses.push({ at, ip, command: str(line.command) ?? "?" });
      else if (line.event === LogEvent.LOGIN_FAILED && line.reason === "disabled") disabled.push({ at, ip, ...(str(line.userId) ? { userId: str(line.userId)! } : {}), account: str(line.account) ?? str(line.userId) ?? "?" });
      else if (line.event === LogEvent.HTTP_REQUEST && str(line.user)) requests.push({ at, ip, userId: str(line.user)! });
    },
    report(): { usage: AccessUsage; findings: Finding[] } {
      const findings: Finding[] = [];
      roleChanges.sort((a, b) => a.at - b.at);
      const admins = new Set(namedAdmins);
      for (const change of roleChanges) {
        if (change.role === "admin") admins.add(change.userId!);
        else if (!namedAdmins.includes(change.userId!)) admins.delete(change.userId!);
        if (change.role === "admin" && change.at >= window.since) findings.push(evidence("admin_granted", "medium", change.userId!, [change], `user ${change.userId} was given the admin role`));
      }
      const adminRequests = requests.filter((seen) => admins.has(seen.userId!));
      const windowLogins = logins.filter((seen) => seen.at >= window.since);
      const usage: AccessUsage = {
        admins: [...admins].sort().map((userId) => {
          const mine = adminRequests.filter((seen) => seen.userId === userId);
          return { userId, requests: mine.length, logins: windowLogins.filter((seen) => seen.userId === userId).length, ips: [...new Set(mine.map((seen) => seen.ip))].sort() };
        }),
        opsToken: { uses: opsUses.length, ips: [...new Set(opsUses.map((use) => use.ip))].sort(), commands: [...new Set(opsUses.map((use) => use.command))].sort() },
      };
      for (const [account, group] of groupBy(disabled, (seen) => seen.account)) {
        findings.push(evidence("disabled_account_login", "medium", account, group, `disabled account ${account} tried to log in ${group.length} time(s)`));
      }
      const offHours = (at: number) => {
        const date = new Date(at);
        const weekend = date.getUTCDay() === 0 || date.getUTCDay() === 6;
        return weekend || date.getUTCHours() < policy.businessHours.start || date.getUTCHours() >= policy.businessHours.end;
      };
      for (const [admin, group] of groupBy([...adminRequests, ...windowLogins.filter((seen) => admins.has(seen.userId!))].filter((seen) => offHours(seen.at)), (seen) => seen.userId)) {
        group.sort((a, b) => a.at - b.at);
        findings.push(evidence("off_hours_admin_access", "medium", admin, group, `admin ${admin}: ${group.length} request(s) outside ${policy.businessHours.start}:00–${policy.businessHours.end}:00 UTC on weekdays`));
      }
      for (const [admin, group] of groupBy(logins.filter((seen) => admins.has(seen.userId!)), (seen) => seen.userId)) {
        group.sort((a, b) => a.at - b.at);
        const known = new Set(group.filter((seen) => seen.at < window.since).map((seen) => prefix(seen.ip)));
        const fresh = group.filter((seen) => seen.at >= window.since && !known.has(prefix(seen.ip)));
        if (fresh.length > 0) findings.push(evidence("admin_login_new_network", "high", admin, fresh, `admin ${admin} logged in from ${[...new Set(fresh.map((seen) => prefix(seen.ip)))].join(", ")}, not seen in the ${policy.baselineDays} days before`));
      }
      return { usage, findings: findings.sort((a, b) => a.first.localeCompare(b.first) || a.kind.localeCompare(b.kind)) };
    },
  };
}
