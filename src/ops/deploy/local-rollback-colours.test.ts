import { describe, expect, it } from "vitest";
import type { TrafficRoute } from "../../services/gateway/traffic/traffic.repository.ts";
import { rollbackColours } from "./local-target.ts";

const route = (upstream: string, active: "blue" | "green", canaryWeight: number): TrafficRoute => ({
  upstream: upstream as TrafficRoute["upstream"],
  blue: ["http://127.0.0.1:1"],
  green: ["http://127.0.0.1:2"],
  active,
  canaryWeight,
  revision: 1,
  changedAt: "",
});

describe("rollbackColours: where azora rollback puts the local target's traffic", () => {
  it("after a switch: back to the other colour", () => {
    expect(rollbackColours({ auth: route("auth", "green", 0), users: route("users", "green", 0) })).toMatchObject({ back: "blue", from: "green", canary: false });
  });

  it("with a canary share on the live colour: stays there (the share goes), whichever upstream still has it", () => {
    expect(rollbackColours({ auth: route("auth", "blue", 25), users: route("users", "blue", 25) })).toMatchObject({ back: "blue", from: "green", canary: true });
    // A deploy that died between the two upstreams of a canary step (auth moves first).
    expect(rollbackColours({ auth: route("auth", "blue", 10), users: route("users", "blue", 0) })).toMatchObject({ back: "blue", canary: true });
    // ... or between the two upstreams of the switch that ends the canary: users (still at 50 %) says blue is the stable one.
    expect(rollbackColours({ auth: route("auth", "green", 0), users: route("users", "blue", 50) })).toMatchObject({ back: "blue", canary: true });
  });

  it("no routes yet: blue is live and the other colour is green", () => {
    expect(rollbackColours({ auth: null, users: null })).toMatchObject({ live: "blue", back: "green", canary: false });
  });
});
