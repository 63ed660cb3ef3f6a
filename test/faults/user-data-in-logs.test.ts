import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSigningKeysRepository } from "../../src/services/auth/signing-keys.repository.ts";
import { loadSigner, type Signer } from "../../src/services/auth/signing-keys.ts";
import { apiClient, expectErrorShape } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";

for (const backend of backends()) {
  describe(`no user data in logs (${backend.name})`, () => {
    let platform: TestPlatform;
    let signer: Signer;
    const logText = async () => {
      // The access log is written in blocks and at least every second: stop reading once it has caught up.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const dir = platform.config.paths.logs;
      const files = await Promise.all(["api.log", "auth.log", "security.log"].map((name) => readFile(join(dir, name), "utf8")));
      return files.join("");
    };

    beforeAll(async () => {
      platform = await startTestPlatform(backend);
      const { context } = platform.running;
      // Tokens signed with the platform's own key, as a bug or a foreign tool holding the key could sign them.
      signer = await loadSigner(
        createSigningKeysRepository(context.db),
        { ...platform.config.tokens, masterSecret: context.masterSecret, clock: context.clock },
        () => undefined,
      );
    }, 600_000);
    afterAll(async () => platform?.stop(), 120_000);

    it("refuses a token whose subject is not a user id with 401 invalid_token, and logs no database error", async () => {
      const api = apiClient(platform.baseUrl);
      const { token } = await signer.signAccessToken("not-a-uuid-but-jane-private-note", Date.now());
      for (const [method, path] of [
        ["GET", "/api/user/me"],
        ["GET", "/api/content"],
        ["POST", "/api/content"],
        ["GET", "/api/auth/me"],
      ] as const) {
        const response = await api.call(method, path, { token, json: method === "POST" ? { title: "t" } : undefined });
        expectErrorShape(response, 401, "invalid_token");
      }
      const logs = await logText();
      expect(logs).not.toContain("jane-private-note");
      expect(logs).not.toContain('"level":"error"');
    });

    it("answers a deleted user's token with 401 invalid_token or 404, never a 500", async () => {
      const api = apiClient(platform.baseUrl);
      const user = await api.newUser("erased");
      // The user is erased while their access token is still valid (as an erasure or a restore would).
      await platform.running.context.db.query("DELETE FROM users WHERE id = $1", [user.id]);
      const created = await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "note of an erased user" } });
      expectErrorShape(created, 401, "invalid_token");
      expectErrorShape(await api.get("/api/auth/me", user.accessToken), 401, "invalid_token");
      expectErrorShape(await api.get("/api/user/me", user.accessToken), 404, "not_found");
      expect((await api.get("/api/content", user.accessToken)).status).toBe(200);
      const logs = await logText();
      expect(logs).not.toContain('"level":"error"');
      expect(logs).not.toContain("note of an erased user");
    });

    it("masks an email written into a request path in the access log", async () => {
      const api = apiClient(platform.baseUrl);
      const user = await api.newUser("path");
      const local = user.email.slice(0, user.email.indexOf("@"));
      const answers = [
        await api.get(`/api/user/${user.email}`, user.accessToken),
        await api.get(`/api/user/${encodeURIComponent(user.email)}`, user.accessToken),
        await api.get(`/api/nothing/${user.email}?q=${user.email}`),
      ];
      for (const answer of answers) expect(answer.status).toBeLessThan(500);
      const logs = await logText();
      expect(logs).toContain(`/api/user/${local[0]}***@example.com`);
      expect(logs).not.toContain(local);
    });
  });
}
