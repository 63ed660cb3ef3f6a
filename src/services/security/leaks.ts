import { LogEvent } from "../../platform/log-events.ts";
import { evidence, type Finding } from "./anomalies.ts";
import type { LogLine } from "./log-reader.ts";
import type { SecurityPolicy } from "./policy.ts";
import { busiestWindow, groupBy, Tally } from "./sliding-window.ts";

const DAY = 86_400_000;
type Seen = { at: number; ip: string; userId?: string; account?: string; path?: string };

/** The raw-text test for lines the leak detector needs: access lines and GDPR exports. */
export function isLeakLine(raw: string): boolean {
  return raw.includes('"event":"http_request"') || raw.includes('"event":"GDPR_EXPORT"');
}

/**
 * Leak detection over one pass of the lines (any order): reads per user and per access token in the window
 * against the user's own daily average before it, bursts of GDPR exports, and id probing answered 403/404.
 * Access lines are counted once per request id (in split mode the gateway and the service both write one).
 */
export function createLeakDetector(window: { since: number; until: number }, policy: SecurityPolicy["leaks"]) {
  const baselineSince = window.since - policy.baselineDays * DAY;
  const baselineReads = new Map<string, number>();
  const userReads = new Map<string, Seen[]>();
  const tokenReads = new Map<string, Seen[]>();
  const exports: Seen[] = [];
  const denied: Seen[] = [];
  const requestIds = new Set<string>();

  const push = (map: Map<string, Seen[]>, key: string, seen: Seen) => {
    const list = map.get(key);
    if (list) list.push(seen);
    else map.set(key, [seen]);
  };

  return {
    /** The window to read: the baseline days before it, and the window itself. */
    readSince: baselineSince,
    add(line: LogLine): void {
      const at = Date.parse(line.time);
      const ip = typeof line.ip === "string" ? line.ip : "unknown";
      const user = typeof line.user === "string" ? line.user : undefined;
      if (line.event === LogEvent.GDPR_EXPORT) {
        if (at >= window.since) exports.push({ at, ip, ...(typeof line.userId === "string" ? { userId: line.userId, account: line.userId } : {}) });
        return;
      }
      if (line.event !== LogEvent.HTTP_REQUEST) return;
      if (typeof line.requestId === "string") {
        if (requestIds.has(line.requestId)) return;
        requestIds.add(line.requestId);
      }
      const status = Number(line.status);
      if (line.method === "GET" && status < 400 && user) {
        if (at < window.since) baselineReads.set(user, (baselineReads.get(user) ?? 0) + 1);
        else {
          const seen = { at, ip, userId: user, account: user };
          push(userReads, user, seen);
          if (typeof line.tokenId === "string") push(tokenReads, line.tokenId, seen);
        }
      } else if ((status === 403 || status === 404) && at >= window.since && typeof line.route === "string" && line.route.includes(":")) {
        denied.push({ at, ip, ...(user ? { userId: user, account: user } : {}), path: String(line.path) });
      }
    },
    findings(): Finding[] {
      const findings: Finding[] = [];
      const limitFor = (user: string) => {
        const total = baselineReads.get(user);
        return total === undefined ? policy.newUserMaxReads : Math.max(policy.minReads, (total / policy.baselineDays) * policy.readFactor);
      };
      const describeBaseline = (user: string) => {
        const total = baselineReads.get(user);
        return total === undefined ? "no baseline" : `baseline ${(total / policy.baselineDays).toFixed(0)} a day`;
      };
      for (const [user, reads] of userReads) {
        if (reads.length <= limitFor(user)) continue;
        reads.sort((a, b) => a.at - b.at);
        findings.push(evidence("unusual_read_volume_user", "high", user, reads, `user ${user} read ${reads.length} times in the window (${describeBaseline(user)})`));
      }
      for (const [token, reads] of tokenReads) {
        const user = reads[0]!.userId!;
        if (reads.length <= limitFor(user)) continue;
        reads.sort((a, b) => a.at - b.at);
        findings.push(evidence("unusual_read_volume_token", "high", token, reads, `access token ${token} of user ${user} read ${reads.length} times (${describeBaseline(user)})`));
      }
      exports.sort((a, b) => a.at - b.at);
      let inside = 0;
      const burst = busiestWindow(exports, policy.gdprExports.windowSeconds * 1000, { add: () => inside++, remove: () => inside--, satisfied: () => inside > policy.gdprExports.max });
      if (burst) {
        const window = exports.slice(burst.first, burst.last + 1);
        findings.push(evidence("gdpr_export_burst", "high", "gdpr exports", window, `${window.length} GDPR exports within ${policy.gdprExports.windowSeconds} s`));
      }
      for (const [who, group] of groupBy(denied, (seen) => seen.userId ?? seen.ip)) {
        group.sort((a, b) => a.at - b.at);
        const paths = new Tally();
        const peak = busiestWindow(group, policy.enumeration.windowSeconds * 1000, {
          add: (seen) => paths.add(seen.path ?? ""),
          remove: (seen) => paths.remove(seen.path ?? ""),
          satisfied: () => paths.distinct >= policy.enumeration.minDistinctIds,
        });
        if (peak) {
          const window = group.slice(peak.first, peak.last + 1);
          findings.push(evidence("enumeration", "high", who, window, `${new Set(window.map((seen) => seen.path)).size} distinct ids answered 403/404 to ${who} within ${policy.enumeration.windowSeconds} s`));
        }
      }
      return findings.sort((a, b) => a.first.localeCompare(b.first) || a.kind.localeCompare(b.kind));
    },
  };
}
