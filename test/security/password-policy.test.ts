import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "../../src/services/auth/passwords.ts";
import { apiClient, expectErrorShape } from "../helpers/api.ts";
import { backends } from "../helpers/backends.ts";
import { startTestPlatform, type TestPlatform } from "../helpers/platform.ts";

const email = (prefix: string) => `${prefix}-${randomBytes(4).toString("hex")}@example.com`;

describe.each(backends())("password policy over HTTP ($name)", (backend) => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform(backend);
  });
  afterAll(async () => platform?.stop());

  const register = (address: string, password: string) => apiClient(platform.baseUrl).call("POST", "/api/auth/register", { json: { email: address, password } });
  const login = (address: string, password: string) => apiClient(platform.baseUrl).call("POST", "/api/auth/login", { json: { email: address, password } });
  const storedHash = async (address: string) =>
    (await platform.running.context.db.query<{ password_hash: string }>("SELECT password_hash FROM users WHERE email = $1", [address]))[0]?.password_hash;

  it("refuses short, over-long, common and malformed passwords at register with a 400 that names the field", async () => {
    for (const password of ["short1", "x".repeat(129), "password", "Baseball", "qwertyuiop", "abc\u0000defghij", "abc\ud800defghij"]) {
      const answer = await register(email("policy"), password);
      expectErrorShape(answer, 400, "invalid_request");
      expect(answer.body.error.details.fields[0].field).toBe("password");
    }
    const short = await register(email("policy"), "short1");
    expect(short.body.error.details.fields[0].problem).toContain("15");
    expect((await register(email("policy"), "x".repeat(8) + "🦊".repeat(120))).status).toBe(202);
  });

  it("treats the NFC, NFD and compatibility forms of a password as one", async () => {
    const address = email("nfkc");
    const nfc = "Caf\u00e9 au lait ｎｏｉｒ";
    expect((await register(address, nfc)).status).toBe(202);
    expect((await login(address, nfc)).status).toBe(200);
    expect((await login(address, nfc.normalize("NFD"))).status).toBe(200);
    expect((await login(address, "Café au lait noir")).status).toBe(200);
  });

  it("still accepts a hash made before normalisation, and rehashes it from the NFKC form", async () => {
    const address = email("legacy");
    const typed = "Cafe\u0301 legacy password";
    expect((await register(address, "placeholder password 1")).status).toBe(202);
    const legacyHash = await hashPassword(typed);
    await platform.running.context.db.query("UPDATE users SET password_hash = $2 WHERE email = $1", [address, legacyHash]);
    expect((await login(address, typed)).status).toBe(200);
    expect(await storedHash(address)).not.toBe(legacyHash);
    // Now stored from the NFKC form: the composed spelling works too.
    expect((await login(address, typed.normalize("NFC"))).status).toBe(200);
  });

  it("answers a login with a lone surrogate or control character as a wrong password, and such strings never match one another", async () => {
    const address = email("surrogate");
    expect((await register(address, "real password here")).status).toBe(202);
    for (const password of ["\ud800\ud800\ud800\ud800\ud800\ud800\ud800\ud800", "\udc00\udc00\udc00\udc00\udc00\udc00\udc00\udc00", "real password here\u0000"]) {
      expectErrorShape(await login(address, password), 401, "invalid_credentials");
    }
  });
});
