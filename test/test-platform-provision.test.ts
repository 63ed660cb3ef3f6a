import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend } from "./helpers/backends.ts";
import { provisionTestPlatform } from "./helpers/platform.ts";

/**
 * An installation that cannot be prepared (a bad setting, a data directory that cannot be seeded) leaves nothing
 * behind: the suite's afterAll never gets an installation to dispose of, so provisionTestPlatform must itself
 * drop the database it provisioned and remove the data directory it made, as the suites' own set-up did.
 */
describe("provisionTestPlatform when the installation cannot be prepared", () => {
  const savedTmpdir = process.env.TMPDIR;
  let scratch: string;
  beforeEach(async () => {
    // The data directory is made under os.tmpdir(): a directory of the test's own shows what is left there.
    scratch = await mkdtemp(join(tmpdir(), "azora-provision-"));
    process.env.TMPDIR = scratch;
  });
  afterEach(async () => {
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    await rm(scratch, { recursive: true, force: true });
  });

  it("a setting the config refuses: the provisioned database is disposed of and the data directory removed", async () => {
    let disposed = 0;
    const backend: Backend = { name: "embedded", provision: async () => ({ env: {}, dispose: async () => void disposed++ }) };
    await expect(provisionTestPlatform(backend, { PORT: "not-a-port" })).rejects.toThrow(/bad test config/);
    expect(disposed).toBe(1);
    expect(await readdir(scratch)).toEqual([]);
  });

  it("a backend that cannot provision: the data directory is removed", async () => {
    const backend: Backend = { name: "postgres+redis", provision: async () => Promise.reject(new Error("no database server")) };
    await expect(provisionTestPlatform(backend)).rejects.toThrow("no database server");
    expect(await readdir(scratch)).toEqual([]);
  });

  it("a database the caller provisioned is left to the caller", async () => {
    let disposed = 0;
    const provisioned = { env: {}, dispose: async () => void disposed++ };
    const backend: Backend = { name: "embedded", provision: async () => Promise.reject(new Error("not called")) };
    await expect(provisionTestPlatform(backend, { PORT: "not-a-port" }, { provisioned })).rejects.toThrow(/bad test config/);
    expect(disposed).toBe(0);
    expect(await readdir(scratch)).toEqual([]);
  });
});
