import { describe, expect, it } from "vitest";
import { ManifestError, parseManifest } from "./manifest.ts";

const sha = "a".repeat(64);
const valid = {
  format: 1,
  id: "20261129T020000Z-full-a1b2c3",
  kind: "full",
  createdAt: "2026-11-29T02:00:00.000Z",
  appVersion: "1.0.0",
  engine: "postgres",
  dump: { file: "database.pgdump", format: "pg_dump-custom", gzip: false },
  schemaVersion: "20261101000000_init",
  tables: [{ name: "users", rows: 1, checksum: "0" }],
  files: [{ name: "database.pgdump", bytes: 10, sha256: sha }],
  encryption: null,
  sizeBytes: 10,
  durationSeconds: 1,
  keep: false,
};

describe("backup manifests", () => {
  it("accept a dump that is one of the checksummed files", () => {
    expect(parseManifest(JSON.stringify(valid), "manifest.json").dump.file).toBe("database.pgdump");
  });

  it("accept format 2 (checksums over COPY text, ADR 0460) and refuse a format this version does not know", () => {
    expect(parseManifest(JSON.stringify({ ...valid, format: 2 }), "manifest.json").format).toBe(2);
    expect(() => parseManifest(JSON.stringify({ ...valid, format: 3 }), "/backups/X/manifest.json")).toThrow(/manifest\.json is not a valid manifest: format/);
  });

  it("refuse a dump file the checksums do not cover: a restore would load it unchecked", () => {
    for (const file of ["other.pgdump", "../../elsewhere/database.pgdump"]) {
      const text = JSON.stringify({ ...valid, dump: { ...valid.dump, file } });
      expect(() => parseManifest(text, "/backups/X/manifest.json")).toThrow(ManifestError);
      expect(() => parseManifest(text, "/backups/X/manifest.json")).toThrow(/manifest\.json is not a valid manifest: dump\.file is not one of the files the manifest lists with a checksum/);
    }
  });
});
