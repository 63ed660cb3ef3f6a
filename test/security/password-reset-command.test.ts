import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, expectErrorShape } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { repoRoot, runCli } from "../helpers/cli.ts";
import type { TestPlatform } from "../helpers/platform.ts";
import { resetTokenIn } from "../helpers/smtp.ts";
import { manualClock, startClockedPlatform } from "../helpers/security-platform.ts";
import { waitUntil } from "../helpers/wait.ts";

// The real CLI through the guide's wrapper, as a child process: generous bounds, no timing asserted.
const SLOW = 300_000;
const bulkReset = join(repoRoot, "scripts", "bulk-password-reset.sh");

/** The guide's `./scripts/bulk-password-reset.sh`: sessions end, passwords stop working, a reset mail goes out. */
describe.each(backends())("./scripts/bulk-password-reset.sh on the $name backend", (backend) => {
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  let env: Record<string, string>;

  beforeAll(async () => {
    platform = await startClockedPlatform(backend, manualClock());
    api = apiClient(platform.baseUrl);
    env = { DATA_DIR: platform.dataDir, ...(platform.config.database.url ? { DATABASE_URL: platform.config.database.url } : {}) };
  }, SLOW);
  afterAll(async () => platform?.stop(), SLOW);

  it("refuses bad usage with 2, an unknown address with 1 and changes nothing", async () => {
    expect((await runCli([], env, bulkReset)).code).toBe(2);
    expect((await runCli(["--all", "a@example.com"], env, bulkReset)).code).toBe(2);
    expect((await runCli(["--emails", join(platform.dataDir, "missing.txt")], env, bulkReset)).code).toBe(2);
    const jane = await api.newUser("reset-typo");
    const unknown = await runCli([jane.email, "nobody@example.com"], env, bulkReset);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("nobody was reset");
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(200);
  }, SLOW);

  it("--all --dry-run lists who would be reset and changes nothing", async () => {
    const sam = await api.newUser("reset-dry");
    const dry = await runCli(["--all", "--dry-run", "--json"], env, bulkReset);
    expect(dry.code, dry.stderr).toBe(0);
    const listed = JSON.parse(dry.stdout) as { dryRun: boolean; count: number; users: { id: string; email: string }[] };
    expect(listed.dryRun).toBe(true);
    expect(listed.users.map((user) => user.id)).toContain(sam.id);
    expect(dry.stdout).not.toContain(sam.email);
    expect((await api.call("POST", "/api/auth/login", { json: { email: sam.email, password: sam.password } })).status).toBe(200);
    expect((await api.call("POST", "/api/auth/refresh", { json: { refreshToken: sam.refreshToken } })).status).toBe(200);
  }, SLOW);

  it("--emails FILE: sessions end, live tokens are refused within 5 s, the password stops working, mail and audit rows per person", async () => {
    const kim = await api.newUser("reset-a");
    const lee = await api.newUser("reset-b");
    const bystander = await api.newUser("reset-keep");
    const file = join(platform.dataDir, "reset-list.txt");
    await writeFile(file, `# phished on Monday\n${kim.email}\n\n${lee.email.toUpperCase()}\n`);
    const done = await runCli(["--emails", file, "--json"], env, bulkReset);
    expect(done.code, done.stderr).toBe(0);
    const result = JSON.parse(done.stdout) as { count: number; users: { id: string; sessionsEnded: number; mail: string }[] };
    expect(result.count).toBe(2);
    expect(result.users.map((user) => user.mail)).toEqual(["sent", "sent"]);
    expect(done.stderr).toContain("[2/2]");

    for (const person of [kim, lee]) {
      expectErrorShape(await api.call("POST", "/api/auth/login", { json: { email: person.email, password: person.password } }), 401, "invalid_credentials");
      expectErrorShape(await api.call("POST", "/api/auth/refresh", { json: { refreshToken: person.refreshToken } }), 401, "invalid_token");
      await waitUntil(async () => ((await api.get("/api/user/me", person.accessToken)).status === 401 ? true : undefined), "the access token refused", 6_000);
    }
    expect((await api.get("/api/user/me", bystander.accessToken)).status).toBe(200);

    // The reset mail (a .eml file without SMTP_URL): its link lets the person choose a new password.
    const mails = await Promise.all((await readdir(platform.config.paths.mail)).filter((name) => name.endsWith(".eml")).map(async (name) => simpleParser(await readFile(join(platform.config.paths.mail, name)))));
    const mailTo = (email: string) => mails.find((mail) => mail.to && !Array.isArray(mail.to) && mail.to.value[0]?.address === email);
    expect(mailTo(lee.email)).toBeDefined();
    const token = resetTokenIn(mailTo(kim.email)?.text ?? "");
    expect((await api.call("POST", "/api/auth/password/reset", { json: { token, password: "chosen after the reset" } })).status).toBe(204);
    expect((await api.call("POST", "/api/auth/login", { json: { email: kim.email, password: "chosen after the reset" } })).status).toBe(200);
    const tail = await runCli(["audit", "tail", "-n", "5", "--json"], env);
    const rows = JSON.parse(tail.stdout) as { action: string; target: string }[];
    expect(rows.filter((row) => row.action === "password.reset_forced").map((row) => row.target)).toEqual(expect.arrayContaining([`user:${kim.id}`, `user:${lee.id}`]));
  }, SLOW);
});
