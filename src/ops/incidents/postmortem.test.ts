import { describe, expect, it } from "vitest";
import { MAX_LOG_EVENTS, timelineLogEvents } from "./postmortem.ts";

const line = (second: number, fields: Record<string, unknown>) => JSON.stringify({ level: 30, time: new Date(Date.UTC(2026, 0, 1, 10, 0, second)).toISOString(), ...fields });

describe("the post-mortem's events from the logs", () => {
  it("takes auth.log's and security.log's security events, not their routine lines, and error lines of every log", () => {
    const { events, omitted } = timelineLogEvents([
      { stream: "api", files: [], lines: [line(1, { event: "http_request", status: 200 }), line(2, { level: 50, msg: "upstream timed out" }), line(3, { level: 40, event: "LOGIN_FAILED" })] },
      {
        stream: "auth",
        files: [],
        lines: [
          line(4, { level: 40, event: "LOGIN_FAILED", reason: "wrong_password", email: "a***@example.com", msg: "login failed" }),
          line(5, { event: "LOGIN_SUCCEEDED", msg: "login" }),
          line(6, { level: 40, event: "ACCOUNT_LOCKED", msg: "account locked" }),
          line(7, { event: "USER_REGISTERED" }),
        ],
      },
      {
        stream: "security",
        files: [],
        lines: [line(8, { event: "AUDIT_RECORDED" }), line(9, { event: "OPS_TOKEN_USED" }), line(10, { level: 40, event: "SUSPICIOUS_ACTIVITY", detector: "credential_stuffing", msg: "42 accounts from one IP" }), "not json"],
      },
    ]);
    expect(events).toEqual([
      { at: "2026-01-01T10:00:04.000Z", source: "security", text: "LOGIN_FAILED: login failed (reason wrong_password) [auth.log]" },
      { at: "2026-01-01T10:00:06.000Z", source: "security", text: "ACCOUNT_LOCKED: account locked [auth.log]" },
      { at: "2026-01-01T10:00:10.000Z", source: "security", text: "SUSPICIOUS_ACTIVITY: 42 accounts from one IP (detector credential_stuffing) [security.log]" },
      { at: "2026-01-01T10:00:02.000Z", source: "error", text: "api.log: upstream timed out" },
    ]);
    expect(omitted).toBe(0);
  });

  it("keeps the earliest of each kind when there are too many, so a flood of failed logins does not push the error lines out", () => {
    const failures = Array.from({ length: MAX_LOG_EVENTS + 15 }, (_, n) => line(n, { level: 40, event: "LOGIN_FAILED", msg: `failure ${n}` }));
    const { events, omitted } = timelineLogEvents([
      { stream: "api", files: [], lines: [line(59, { level: 50, msg: "database unreachable" })] },
      { stream: "auth", files: [], lines: failures.reverse() },
    ]);
    expect(events.filter((event) => event.source === "security")).toHaveLength(MAX_LOG_EVENTS);
    expect(events[0]!.text).toContain("failure 0");
    expect(events.find((event) => event.source === "error")?.text).toBe("api.log: database unreachable");
    expect(omitted).toBe(15);
  });
});
