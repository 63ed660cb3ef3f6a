import { describe, expect, it } from "vitest";
import { expiredBackups } from "./backup-store.ts";
import type { Manifest } from "./manifest.ts";

const backup = (id: string, createdAt: string, keep = false) => ({ id, createdAt, keep }) as Manifest;

describe("retention", () => {
  const now = new Date("2026-11-28T12:30:00Z");

  it("keeps the newest of each recent hour and of each recent day, and drops the rest", () => {
    const backups = [
      backup("h12b", "2026-11-28T12:20:00Z"),
      backup("h12a", "2026-11-28T12:05:00Z"),
      backup("h11", "2026-11-28T11:00:00Z"),
      backup("d27b", "2026-11-27T23:00:00Z"),
      backup("d27a", "2026-11-27T02:00:00Z"),
      backup("d20", "2026-11-20T02:00:00Z"),
    ];
    const expired = expiredBackups(backups, { keepDaily: 3, keepHourly: 2 }, now).map((m) => m.id);
    expect(expired).toEqual(["h12a", "d27a", "d20"]);
  });

  it("never expires an emergency backup, and an emergency backup takes no scheduled backup's slot", () => {
    const backups = [backup("emergency", "2026-11-28T12:25:00Z", true), backup("full", "2026-11-28T12:00:00Z"), backup("old-emergency", "2025-01-01T00:00:00Z", true)];
    expect(expiredBackups(backups, { keepDaily: 1, keepHourly: 1 }, now)).toEqual([]);
  });

  it("always keeps the newest backup, however old", () => {
    const backups = [backup("old", "2026-01-01T00:00:00Z"), backup("older", "2025-12-01T00:00:00Z")];
    expect(expiredBackups(backups, { keepDaily: 1, keepHourly: 0 }, now).map((m) => m.id)).toEqual(["older"]);
  });
});
