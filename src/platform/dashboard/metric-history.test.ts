import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createMetricHistory } from "./metric-history.ts";

describe("the dashboard's metric history", () => {
  it("keeps more than the whole window when reading times jitter, so an alert whose `for` is the window can fire", async () => {
    // Readings every 10 s, stamped once the registry has been read: 50 ms late each, but the newest read
    // quickly. The hour's alert (RestoreDrillStale, `for: 1h`) needs a reading at least an hour old.
    let at = 0;
    const history = createMetricHistory({ registry: new Registry(), intervalMs: 10_000, windowMs: 3_600_000, now: () => at });
    for (let i = 0; i < 500; i++) {
      at = i * 10_000 + (i === 499 ? 0 : 50);
      await history.sample();
    }
    const readings = history.snapshots();
    expect(readings.at(-1)!.at - readings[0]!.at).toBeGreaterThanOrEqual(3_600_000);
    // …and not much more: the buffer is bounded.
    expect(readings.length).toBeLessThanOrEqual(362);
  });
});
