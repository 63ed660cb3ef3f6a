import { describe, expect, it } from "vitest";
import { alertChanges, alertStepSeconds } from "./alerts.ts";

const window = { since: new Date("2026-01-01T10:00:00Z"), until: new Date("2026-01-01T11:00:00Z") };
const at = (minute: number, second = 0) => Date.parse(`2026-01-01T10:${String(minute).padStart(2, "0")}:${String(second).padStart(2, "0")}Z`) / 1000;
const run = (from: number, to: number, step = 1) => Array.from({ length: (to - from) / step + 1 }, (_, index) => from + index * step);
const labels = { __name__: "ALERTS", alertname: "HighErrorRate", alertstate: "firing", severity: "critical", service: "users" };

describe("alert changes from an ALERTS series", () => {
  it("turns each firing period into fired and resolved, split where the series has a gap", () => {
    const changes = alertChanges(labels, [...run(at(5), at(7)), ...run(at(20), at(21))], window, 1);
    expect(changes).toEqual([
      { at: "2026-01-01T10:05:00.000Z", text: "HighErrorRate (service=users, severity=critical) fired" },
      { at: "2026-01-01T10:07:00.000Z", text: "HighErrorRate (service=users, severity=critical) resolved (last seen firing)" },
      { at: "2026-01-01T10:20:00.000Z", text: "HighErrorRate (service=users, severity=critical) fired" },
      { at: "2026-01-01T10:21:00.000Z", text: "HighErrorRate (service=users, severity=critical) resolved (last seen firing)" },
    ]);
  });

  it("says an alert was already firing at the window's start, or still firing at its end, instead of inventing a time", () => {
    const changes = alertChanges({ alertname: "ServiceDown" }, run(at(0), at(59, 59)).concat([Date.parse("2026-01-01T11:00:00Z") / 1000]), window, 1);
    expect(changes.map((change) => change.text)).toEqual(["ServiceDown already firing when the window starts", "ServiceDown still firing when the window ends"]);
  });

  it("keeps the range query under Prometheus's 11,000 points a series", () => {
    expect(alertStepSeconds(window)).toBe(1);
    const week = { since: new Date("2026-01-01T00:00:00Z"), until: new Date("2026-01-08T00:00:00Z") };
    expect((7 * 86_400) / alertStepSeconds(week)).toBeLessThanOrEqual(10_000);
    // A coarser step still reads one period as one: samples one step apart are not a gap.
    expect(alertChanges({ alertname: "X" }, run(at(10), at(30), 61), window, 61)).toHaveLength(2);
  });
});
