import { describe, expect, it } from "vitest";
import { errorRateGate, requestCounts } from "./analysis.ts";

const exposition = (ok: number, failed: number) =>
  [
    "# HELP http_requests_total Requests",
    "# TYPE http_requests_total counter",
    `http_requests_total{service="gateway",method="GET",route="/health",status="200"} ${ok}`,
    `http_requests_total{service="gateway",method="POST",route="/api/auth/login",status="503"} ${failed}`,
    `http_requests_total{service="gateway",method="GET",route="/api/user/:id",status="404"} 7`,
    "http_request_duration_seconds_count{service=\"gateway\"} 99",
  ].join("\n");

describe("error-rate gate", () => {
  it("counts every request and the 5xx among them, nothing else", () => {
    expect(requestCounts(exposition(10, 2))).toEqual({ total: 19, errors: 2 });
  });

  it("passes within the limit and fails above it, over the window only", () => {
    const before = requestCounts(exposition(100, 10));
    expect(errorRateGate(before, requestCounts(exposition(199, 11)), 1)).toEqual({ ok: true, summary: "1 of 100 requests failed (1.00 %, limit 1 %)" });
    const failing = errorRateGate(before, requestCounts(exposition(195, 15)), 1);
    expect(failing).toEqual({ ok: false, reason: "error rate too high: 5 of 100 requests failed (5.00 %, limit 1 %)" });
  });

  it("fails a window in which no request was served: an empty result is not a pass", () => {
    const same = requestCounts(exposition(5, 0));
    expect(errorRateGate(same, same, 1)).toMatchObject({ ok: false, reason: expect.stringMatching(/no requests reached the new version/) });
  });
});
