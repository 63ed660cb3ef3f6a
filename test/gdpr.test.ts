import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gdprDeleteCommand, gdprExportCommand } from "../src/ops/gdpr.ts";
import { stageBlob } from "../src/platform/blobs/staging.ts";
import { userCacheKey } from "../src/services/users/users.service.ts";
import { ledgerFilePath, readDeletionLedger, replayDeletionLedger } from "../src/services/gdpr/deletion-ledger.ts";
import { apiClient, expectErrorShape, type ApiResponse } from "./helpers/api.ts";
import { downloadFile, pngBytes, uploadFile } from "./helpers/attachments.ts";
import { backends } from "./helpers/backends.ts";
import { captureIO, filesHolding, tablesHolding, unpackAndVerify } from "./helpers/gdpr.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

// The embedded default keeps files locally; PostgreSQL + Redis runs with the files in S3 (s3rver).
const runs = backends().map((backend) => ({ name: backend.name === "embedded" ? "embedded, local files" : `${backend.name}, S3 files`, backend, s3: backend.name !== "embedded" }));

/**
 * A token of an erased person, still within its lifetime, reaches nothing: 404 while the processes still hold
 * the account's token standing (at most 5 s, see revocation.ts), 401 invalid_token once it has expired.
 */
function expectGone(response: ApiResponse): void {
  if (response.status === 401) expectErrorShape(response, 401, "invalid_token");
  else expectErrorShape(response, 404);
}

describe.each(runs)("GDPR on $name", ({ backend, s3: useS3 }) => {
  let platform: TestPlatform;
  let s3: TestS3 | undefined;
  let api: ReturnType<typeof apiClient>;
  const context = () => platform.running.context;

  beforeAll(async () => {
    s3 = useS3 ? await startS3() : undefined;
    platform = await startTestPlatform(backend, { ...s3?.env });
    api = apiClient(platform.baseUrl);
  });
  afterAll(async () => {
    await platform?.stop();
    await s3?.stop();
  });

  /** A person with a name, two content items, a file, a session, a cached profile and log lines. */
  async function person(prefix: string) {
    const user = await api.newUser(prefix);
    await api.call("PATCH", `/api/user/${user.id}`, { token: user.accessToken, json: { name: `${prefix} Person` } });
    const first = (await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "first", body: `written by ${prefix}` } })).body;
    await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "second" } });
    const file = Buffer.concat([pngBytes(), Buffer.from(user.id)]);
    const attachment = (await uploadFile(platform.baseUrl, user.accessToken, first.id, { bytes: file, filename: "me.png" })).body;
    // Read by id, so the access log holds the id in a path, and the profile sits in the cache.
    expect((await api.get(`/api/user/${user.id}`, user.accessToken)).status).toBe(200);
    expect((await api.cachedGet(`/api/user/${user.id}`, user.accessToken)).headers.get("x-cache")).toBe("HIT");
    return { ...user, contentId: first.id as string, attachmentId: attachment.id as string, file };
  }

  it("exports everything about a person into one archive that checks against its manifest", async () => {
    const jane = await person("export");
    const out = join(platform.dataDir, "jane-export.tar.gz");
    const io = captureIO();
    expect(await gdprExportCommand.run(context(), { email: jane.email, out }, io)).toBe(0);
    expect(io.outText()).toContain(`Exported ${jane.email} to ${out}`);

    const { dir, sums } = await unpackAndVerify(out);
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
    expect(manifest).toMatchObject({ format: "azora-gdpr-export/1", subject: { id: jane.id, email: jane.email }, counts: { content: 2, attachments: 1 } });
    for (const file of manifest.files) expect(sums).toContain(`${file.path}: OK`);
    const profile = JSON.parse(await readFile(join(dir, "profile.json"), "utf8"));
    expect(profile).toMatchObject({ id: jane.id, email: jane.email, name: "export Person" });
    expect(JSON.stringify(profile)).not.toContain("argon2");
    const content = JSON.parse(await readFile(join(dir, "content.json"), "utf8"));
    expect(content.map((item: { title: string }) => item.title).sort()).toEqual(["first", "second"]);
    const [attachment] = JSON.parse(await readFile(join(dir, "attachments.json"), "utf8"));
    expect((await readFile(join(dir, attachment.file))).equals(jane.file)).toBe(true);
    expect(JSON.parse(await readFile(join(dir, "sessions.json"), "utf8")).length).toBeGreaterThanOrEqual(1);
    expect(await readFile(join(dir, "events.jsonl"), "utf8")).toContain("USER_REGISTERED");
    await rm(dir, { recursive: true, force: true });

    // The same archive for the person themselves.
    const self = await downloadFile(platform.baseUrl, jane.accessToken, "/api/user/me/export");
    expect(self.status).toBe(200);
    expect(self.headers.get("content-type")).toBe("application/gzip");
    const unpacked = await unpackAndVerify(self.bytes);
    expect(JSON.parse(await readFile(join(unpacked.dir, "manifest.json"), "utf8")).subject.id).toBe(jane.id);
    await rm(unpacked.dir, { recursive: true, force: true });

    context().logs.flush();
    expect((await readFile(join(platform.config.paths.logs, "security.log"), "utf8")).match(/"event":"GDPR_EXPORT"/g)?.length).toBe(2);
    // An export never overwrites a file.
    const again = captureIO();
    expect(await gdprExportCommand.run(context(), { email: jane.email, out }, again)).toBe(1);
    expect(again.errText()).toContain("already exists");
  });

  it("erases a person from every table, the cache, the files and the logs, and a restore cannot bring them back", async () => {
    const jane = await person("erase");
    const bystander = await person("stays");
    const db = context().db;
    const blobKey = (await db.query<{ sha256: string }>("SELECT sha256 FROM attachments WHERE id = $1", [jane.attachmentId]))[0]?.sha256 as string;
    // What a backup taken now holds of her (an older backup restored later brings exactly these rows back).
    const backup: Record<string, unknown[]> = {};
    for (const [table, where] of [["users", "id = $1"], ["content", "owner_id = $1"], ["attachments", "owner_id = $1"], ["refresh_tokens", "user_id = $1"]] as const) {
      backup[table] = (await db.query<{ row: unknown }>(`SELECT row_to_json(t) AS row FROM ${table} t WHERE ${where}`, [jane.id])).map((r) => r.row);
    }

    const dry = captureIO();
    expect(await gdprDeleteCommand.run(context(), { email: jane.email, dryRun: true }, dry)).toBe(0);
    expect(dry.outText()).toMatch(/would remove 1 account, 2 content items, 1 attachments \(1 stored files\), \d+ files in content backups, \d+ sessions/);
    expect(await tablesHolding(db, jane.id)).not.toEqual([]);
    expect((await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } })).status).toBe(200);

    const unconfirmed = captureIO();
    expect(await gdprDeleteCommand.run(context(), { email: jane.email }, unconfirmed)).toBe(2);
    expect(unconfirmed.errText()).toContain("--yes");

    const io = captureIO();
    expect(await gdprDeleteCommand.run(context(), { email: jane.email, yes: true }, io)).toBe(0);
    expect(io.outText()).toContain(`Erased ${jane.email}`);

    expect(await tablesHolding(db, jane.id)).toEqual([]);
    expect(await tablesHolding(db, jane.email)).toEqual([]);
    expect(await context().cache.get(userCacheKey(jane.id))).toBeUndefined();
    expect(await context().blobs.has(blobKey)).toBe(false);
    expect(await filesHolding(platform.config.paths.logs, jane.id)).toEqual([]);
    expect(await filesHolding(platform.config.paths.logs, jane.email)).toEqual([]);
    expect(await readFile(join(platform.config.paths.logs, "security.log"), "utf8")).toContain('"event":"GDPR_ERASURE"');
    expectErrorShape(await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } }), 401, "invalid_credentials");
    // Her access token is still within its 15 minutes: it reaches nothing, and writing is refused, not a 500.
    expectGone(await api.get(`/api/user/${jane.id}`, jane.accessToken));
    expectErrorShape(await api.call("POST", "/api/content", { token: jane.accessToken, json: { title: "after" } }), 401, "invalid_token");
    // Someone else is untouched.
    expect((await api.get(`/api/content/${bystander.contentId}/attachments/${bystander.attachmentId}`, bystander.accessToken)).status).toBe(200);

    const ledger = await readDeletionLedger(context());
    expect(ledger.some((entry) => entry.requestedBy === "operator" && entry.summary.content === 2)).toBe(true);

    // Restore a backup taken before the erasure: her rows and file come back, the ledger table as it was then.
    const restoreOldBackup = async () => {
      await db.query("DELETE FROM gdpr_deletion_ledger");
      for (const table of ["users", "content", "attachments", "refresh_tokens"]) {
        for (const row of backup[table] ?? []) await db.query(`INSERT INTO ${table} SELECT * FROM json_populate_record(NULL::${table}, $1::json)`, [JSON.stringify(row)]);
      }
      const staged = await stageBlob(Readable.from([jane.file]), context().blobs.stagingDir);
      await context().blobs.put(staged.key, staged.path);
      expect(await tablesHolding(db, jane.id)).toEqual(["attachments", "content", "refresh_tokens", "users"]);
    };
    await restoreOldBackup();
    const replayed = await replayDeletionLedger(context());
    expect(replayed).toMatchObject({ recorded: ledger.length, erasedAgain: 1, blobsRemoved: 1 });
    expect(await tablesHolding(db, jane.id)).toEqual([]);
    expect(await context().blobs.has(blobKey)).toBe(false);
    expect(await readDeletionLedger(context())).toHaveLength(ledger.length);

    // Without the ledger file (a restore onto another machine), the entries carried from the replaced database suffice.
    const carried = await readDeletionLedger(context());
    await rm(ledgerFilePath(platform.config.paths.state));
    await restoreOldBackup();
    expect(await replayDeletionLedger(context(), carried)).toMatchObject({ erasedAgain: 1, recorded: ledger.length });
    expect(await tablesHolding(db, jane.id)).toEqual([]);
    expect(await tablesHolding(db, jane.email)).toEqual([]);
    // Replaying again finds nothing to do.
    expect(await replayDeletionLedger(context(), carried)).toMatchObject({ erasedAgain: 0, recorded: 0, blobsRemoved: 0 });
  });

  it("lets a person erase their own account after typing their password again", async () => {
    const jane = await person("self");
    expectErrorShape(await api.call("DELETE", "/api/user/me", { token: jane.accessToken, json: { password: "not my password" } }), 403, "forbidden");
    expectErrorShape(await api.call("DELETE", "/api/user/me", { token: jane.accessToken, json: {} }), 400, "invalid_request");
    expectErrorShape(await api.call("DELETE", "/api/user/me", { token: jane.accessToken }), 400, "invalid_request");
    expectErrorShape(await api.call("DELETE", "/api/user/me", { json: { password: jane.password } }), 401);
    expectErrorShape(await api.call("DELETE", "/api/user/me", { token: "not-a-token", json: { password: jane.password } }), 401, "invalid_token");
    expectErrorShape(await api.call("DELETE", "/api/user/me", { token: jane.accessToken, raw: '{"password":', headers: { "content-type": "application/json" } }), 400, "invalid_json");
    expectErrorShape(await api.call("DELETE", "/api/user/me", { token: jane.accessToken, raw: jane.password, headers: { "content-type": "text/plain" } }), 415, "unsupported_media_type");
    expectErrorShape(await api.call("DELETE", "/api/user/me", { token: jane.accessToken, json: { password: jane.password, extra: true } }), 400, "invalid_request");
    expectErrorShape(await api.call("GET", "/api/user/me/export", { headers: { authorization: "Basic amFuZTpwdw==" } }), 401);
    expect((await api.get(`/api/content/${jane.contentId}`, jane.accessToken)).status).toBe(200);

    const erased = await api.call("DELETE", "/api/user/me", { token: jane.accessToken, json: { password: jane.password } });
    expect(erased.status).toBe(204);
    expect(await tablesHolding(context().db, jane.id)).toEqual([]);
    expect(await filesHolding(platform.config.paths.logs, jane.email)).toEqual([]);
    expect((await readDeletionLedger(context())).some((entry) => entry.requestedBy === "self-service")).toBe(true);
    expectGone(await api.call("DELETE", "/api/user/me", { token: jane.accessToken, json: { password: jane.password } }));
    expectGone(await api.get("/api/user/me/export", jane.accessToken));
  });

  it("refuses an unknown person with a clear message and changes nothing", async () => {
    const io = captureIO();
    expect(await gdprDeleteCommand.run(context(), { email: "nobody@example.com", yes: true }, io)).toBe(1);
    expect(io.errText()).toContain("No account with the email nobody@example.com");
    const bad = captureIO();
    expect(await gdprExportCommand.run(context(), { email: "not an email", out: join(platform.dataDir, "x.tar.gz") }, bad)).toBe(2);
    await writeFile(join(platform.dataDir, "marker"), "");
  });
});
