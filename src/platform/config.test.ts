import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.ts";

describe("loadConfig", () => {
  it("needs no variables on the embedded default", () => {
    const result = loadConfig({});
    if (!result.ok) throw new Error(result.problems.join("; "));
    expect(result.config.gateway).toEqual({ host: "0.0.0.0", port: 8080 });
    expect(result.config.ops).toMatchObject({ host: "127.0.0.1", port: 9090 });
    expect(result.config.database.url).toBeUndefined();
    expect(result.config.paths.pg).toMatch(/data\/pg$/);
    expect(result.config.log.stdout).toBe(true);
  });

  it("reports every bad variable, not just the first", () => {
    const result = loadConfig({ PORT: "http", OPS_PORT: "70000", REDIS_URL: "localhost:6379", AZORA_OPS_TOKEN: "short" });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((problem) => problem.split(":")[0]).sort()).toEqual(["AZORA_OPS_TOKEN", "OPS_PORT", "PORT", "REDIS_URL"]);
  });

  it("parses booleans explicitly: 'false' is false, anything unknown is an error", () => {
    const off = loadConfig({ LOG_STDOUT: "false" });
    expect(off.ok && off.config.log.stdout).toBe(false);
    const odd = loadConfig({ LOG_STDOUT: "nope" });
    expect(odd.ok).toBe(false);
  });

  it("treats an empty URL as unset", () => {
    const result = loadConfig({ DATABASE_URL: "", REDIS_URL: "" });
    expect(result.ok && result.config.database.url).toBeUndefined();
  });

  it("reads numbers in decimal digits only, and an empty number as unset", () => {
    for (const value of ["0x1F90", "8e3", "+8080", " 8080", "8080.0"]) {
      const result = loadConfig({ PORT: value });
      expect(result.ok, `PORT=${JSON.stringify(value)}`).toBe(false);
      if (!result.ok) expect(result.problems).toEqual(["PORT: must be a whole number written in decimal digits"]);
    }
    const empty = loadConfig({ PORT: "", SHUTDOWN_TIMEOUT_MS: "" });
    expect(empty.ok && empty.config.gateway.port).toBe(8080);
    const given = loadConfig({ PORT: "8081", DB_POOL_MAX: "5" });
    expect(given.ok && [given.config.gateway.port, given.config.database.poolMax]).toEqual([8081, 5]);
  });

  it("PASSWORD_HASH_THREADS: unset leaves the hashing pool to its rule; a whole number from 1 to 256 replaces it", () => {
    const unset = loadConfig({});
    expect(unset.ok && unset.config.passwordHashing.threads).toBeUndefined();
    const given = loadConfig({ PASSWORD_HASH_THREADS: "2" });
    expect(given.ok && given.config.passwordHashing.threads).toBe(2);
    for (const value of ["0", "257", "1.5", "two", "-1"]) {
      const bad = loadConfig({ PASSWORD_HASH_THREADS: value });
      expect(bad.ok, value).toBe(false);
      if (!bad.ok) expect(bad.problems[0]).toMatch(/^PASSWORD_HASH_THREADS: /);
    }
  });

  it("syncs every commit of the embedded database by default; DB_SYNC takes always, interval or off only", () => {
    const defaults = loadConfig({});
    expect(defaults.ok && defaults.config.database.sync).toBe("always");
    for (const mode of ["always", "interval", "off"]) {
      const given = loadConfig({ DB_SYNC: mode });
      expect(given.ok && given.config.database.sync).toBe(mode);
    }
    const bad = loadConfig({ DB_SYNC: "everysec" });
    expect(bad.ok ? [] : bad.problems).toEqual(["DB_SYNC: must be always, interval or off"]);
  });
});
