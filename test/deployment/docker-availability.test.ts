// When the image build runs, is skipped, or fails: skipped with a reason where no daemon is, never skipped
// under CI where one is.
import { describe, expect, it } from "vitest";
import { dockerDecision } from "../helpers/docker.ts";

describe("the image build's docker check", () => {
  it("runs wherever the daemon answers, under CI or not", () => {
    for (const ci of [true, false]) expect(dockerDecision({ ci, client: true, daemonExpected: true, info: { ok: true, detail: "" } })).toEqual({ run: true, reason: "" });
  });

  it("skips with the reason where no daemon is, also under CI", () => {
    expect(dockerDecision({ ci: false, client: false, daemonExpected: false })).toEqual({ run: false, reason: "no docker client on PATH" });
    expect(dockerDecision({ ci: true, client: false, daemonExpected: false }).run).toBe(false);
    const noAnswer = dockerDecision({ ci: true, client: true, daemonExpected: false, info: { ok: false, detail: "Cannot connect to the Docker daemon" } });
    expect(noAnswer).toEqual({ run: false, reason: "no Docker daemon answers (Cannot connect to the Docker daemon)" });
  });

  it("fails under CI when a daemon is there but cannot be used, instead of skipping", () => {
    expect(() => dockerDecision({ ci: true, client: false, daemonExpected: true })).toThrow(/docker client is not on PATH under CI/);
    expect(() => dockerDecision({ ci: true, client: true, daemonExpected: true, info: { ok: false, detail: "permission denied" } })).toThrow(/under CI the image build must run/);
    // Outside CI the same machine skips, saying why.
    expect(dockerDecision({ ci: false, client: true, daemonExpected: true, info: { ok: false, detail: "permission denied" } })).toEqual({ run: false, reason: "no Docker daemon answers (permission denied)" });
  });
});
