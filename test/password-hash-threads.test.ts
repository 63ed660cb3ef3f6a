import { afterEach, describe, expect, it } from "vitest";
import { usableCores } from "../src/platform/cpu-quota.ts";
import { hashingThreadCount } from "../src/services/auth/argon2-queue.ts";
import { apiClient } from "./helpers/api.ts";
import { embedded } from "./helpers/backends.ts";
import { hashesAtOnce } from "./helpers/hashing-pool.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";

/**
 * PASSWORD_HASH_THREADS reaches the hashing pool of the process `azora up` runs in (docs/adr/0500). The embedded
 * default only: the pool is the same whatever the database.
 */
describe("the hashing pool's size at start", () => {
  let platform: TestPlatform | undefined;
  afterEach(async () => {
    await platform?.stop();
    platform = undefined;
  });

  it("unset: every usable core but one, at least one; set: the setting, and logins still work", async () => {
    const cores = usableCores();
    platform = await startTestPlatform(embedded);
    expect((await hashesAtOnce(cores + 3)).running).toBe(hashingThreadCount(cores));
    await platform.stop();

    // More than the rule gives on any machine, so a setting that did not reach the pool shows.
    platform = await startTestPlatform(embedded, { PASSWORD_HASH_THREADS: String(cores + 1) });
    expect((await hashesAtOnce(cores + 3)).running).toBe(cores + 1);
    const api = apiClient(platform.baseUrl);
    const user = await api.newUser("threads");
    const login = await api.call("POST", "/api/auth/login", { json: { email: user.email, password: user.password } });
    expect(login.status).toBe(200);
  }, 120_000);
});
