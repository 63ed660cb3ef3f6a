import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../platform/config.ts";
import { secretRedactor } from "./redact.ts";

describe("incident bundle redactor", () => {
  let dir: string | undefined;
  afterEach(async () => dir && rm(dir, { recursive: true, force: true }));

  it("removes known secrets by value and unlabelled ones by shape, and leaves ordinary text alone", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-redact-"));
    const env = { DATA_DIR: dir, AZORA_OPS_TOKEN: "ops-token-value-0123456789abcdefghijkl", S3_ACCESS_KEY_ID: "AKIDEXAMPLE", S3_SECRET_ACCESS_KEY: "s3-secret-value-xyz", DATABASE_URL: "postgres://app:db-pass-word@db:5432/azora" };
    const loaded = loadConfig(env);
    if (!loaded.ok) throw new Error(loaded.problems.join("; "));
    await mkdir(loaded.config.paths.secrets, { recursive: true });
    await writeFile(join(loaded.config.paths.secrets, "master.key"), "file-master-key-material-42\n");
    const redact = await secretRedactor(loaded.config, env);
    const text = [
      "ops=ops-token-value-0123456789abcdefghijkl s3=s3-secret-value-xyz key=file-master-key-material-42 db=db-pass-word",
      '{"msg":"login","password":"hunter2","refreshToken":"abc.def","user":"u-1"}',
      "Authorization: Bearer eyJabcdefgh.ijk; url=https://bob:pa55word@example.com/x?token=t0ken123&page=2",
      "requests 1200 in 5 s, status ok",
    ].join("\n");
    const clean = redact(text);
    for (const secret of ["ops-token-value", "s3-secret-value", "file-master-key-material", "db-pass-word", "hunter2", "abc.def", "eyJabcdefgh", "pa55word", "t0ken123"]) expect(clean).not.toContain(secret);
    expect(clean).toContain('"user":"u-1"');
    expect(clean).toContain("&page=2");
    expect(clean).toContain("requests 1200 in 5 s, status ok");
  });

  it("finds the shapes a prefix, a quoted body, a header or a key block would hide", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-redact-"));
    const loaded = loadConfig({ DATA_DIR: dir });
    if (!loaded.ok) throw new Error(loaded.problems.join("; "));
    const redact = await secretRedactor(loaded.config, { DATA_DIR: dir });
    const lines = [
      "callback?access_token=acc3ss-t0ken-value&client_secret=cl1ent-s3cret&db_password=dbpa55-value&page=3",
      JSON.stringify({ level: 50, msg: `upstream answered ${JSON.stringify({ user: "u-2", password: "qu0ted-pa55", api_key: "qu0ted-k3y" })}` }),
      "X-Api-Key: h3ader-api-k3y",
      "password: yaml-pa55word",
      "Cookie: sid=c00kie-session-id; theme=dark",
      "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
      JSON.stringify({ msg: "key loaded", key: "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPEMk3y\n-----END EC PRIVATE KEY-----" }),
      "Token rotation finished for 3 keys",
      // Redis without ACL users: a password and no user name.
      "redis connection lost: redis://:r3dis-pa55word@cache:6379/0",
    ];
    const clean = redact(lines.join("\n"));
    for (const secret of ["acc3ss-t0ken-value", "cl1ent-s3cret", "dbpa55-value", "qu0ted-pa55", "qu0ted-k3y", "h3ader-api-k3y", "yaml-pa55word", "c00kie-session-id", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "MHcCAQEEIPEMk3y", "r3dis-pa55word"]) {
      expect(clean, secret).not.toContain(secret);
    }
    expect(clean).toContain("&page=3");
    expect(clean).toContain('\\"user\\":\\"u-2\\"');
    expect(clean).toContain("Token rotation finished for 3 keys");
    expect(clean).toContain("redis://:[redacted]@cache:6379/0");
    // Each line is still valid JSON where it was.
    expect(() => JSON.parse(clean.split("\n")[1]!)).not.toThrow();
  });
});
