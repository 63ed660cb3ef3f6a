import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupFullCommand } from "../src/ops/backup.ts";
import { gdprDeleteCommand } from "../src/ops/gdpr.ts";
import { restoreCommand } from "../src/ops/restore.ts";
import { ledgerFilePath } from "../src/services/gdpr/deletion-ledger.ts";
import { userCacheKey } from "../src/services/users/users.service.ts";
import { apiClient, expectErrorShape } from "./helpers/api.ts";
import { pngBytes, uploadFile } from "./helpers/attachments.ts";
import { backends } from "./helpers/backends.ts";
import { dropRestoreLeftovers } from "./helpers/backup.ts";
import { captureIO, tablesHolding } from "./helpers/gdpr.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";

/** Erasure reaches the backups: a restore of a backup taken before `gdpr delete` leaves the person erased. */
describe.each(backends())("restore replays the deletion ledger ($name)", (backend) => {
  let platform: TestPlatform;
  let api: ReturnType<typeof apiClient>;
  const context = () => platform.running.context;
  const slow = 400_000;

  beforeAll(async () => {
    platform = await startTestPlatform(backend, { MAINTENANCE_POLL_MS: "100" });
    api = apiClient(platform.baseUrl);
  }, slow);
  afterAll(async () => {
    await dropRestoreLeftovers(platform);
    await platform?.stop();
  });

  async function personWithFile(prefix: string) {
    const user = await api.newUser(prefix);
    const content = (await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "mine", body: `by ${prefix}` } })).body;
    const bytes = Buffer.concat([pngBytes(), Buffer.from(user.id)]);
    const attachment = (await uploadFile(platform.baseUrl, user.accessToken, content.id, { bytes, filename: "me.png" })).body;
    expect((await api.get(`/api/user/${user.id}`, user.accessToken)).status).toBe(200);
    const [row] = await context().db.query<{ sha256: string }>("SELECT sha256 FROM attachments WHERE id = $1", [attachment.id]);
    return { ...user, contentId: content.id as string, attachmentId: attachment.id as string, blobKey: row?.sha256 ?? "" };
  }

  async function expectErased(jane: Awaited<ReturnType<typeof personWithFile>>) {
    expect(await tablesHolding(context().db, jane.id)).toEqual([]);
    expect(await tablesHolding(context().db, jane.email)).toEqual([]);
    expect(await context().cache.get(userCacheKey(jane.id))).toBeUndefined();
    expect(await context().blobs.has(jane.blobKey)).toBe(false);
    expectErrorShape(await api.call("POST", "/api/auth/login", { json: { email: jane.email, password: jane.password } }), 401, "invalid_credentials");
  }

  it("create, back up, erase, restore the older backup: the person stays erased, everyone else comes back", async () => {
    const jane = await personWithFile("erased");
    const bystander = await personWithFile("kept");
    const backup = captureIO();
    expect(await backupFullCommand.run(context(), { kind: "full" }, backup), backup.errText()).toBe(0);

    const erase = captureIO();
    expect(await gdprDeleteCommand.run(context(), { email: jane.email, yes: true }, erase), erase.errText()).toBe(0);
    await expectErased(jane);

    const restore = captureIO();
    expect(await restoreCommand.run(context(), { reference: "latest" }, restore), restore.errText()).toBe(0);
    expect(restore.outText()).toMatch(/deletion ledger replayed .*1 erasures known, 1 accounts erased again/i);
    await expectErased(jane);
    // The ledger itself came back into the restored database.
    expect((await context().db.query("SELECT 1 FROM gdpr_deletion_ledger")).length).toBe(1);
    expect((await api.call("POST", "/api/auth/login", { json: { email: bystander.email, password: bystander.password } })).status).toBe(200);
    expect((await api.get(`/api/content/${bystander.contentId}/attachments/${bystander.attachmentId}`, bystander.accessToken)).status).toBe(200);
  }, slow);

  it("without the ledger file (a restore on another machine), the entries of the replaced database suffice", async () => {
    const jane = await personWithFile("elsewhere");
    const backup = captureIO();
    expect(await backupFullCommand.run(context(), { kind: "full" }, backup), backup.errText()).toBe(0);
    expect(await gdprDeleteCommand.run(context(), { email: jane.email, yes: true }, captureIO())).toBe(0);
    await rm(ledgerFilePath(context().config.paths.state));

    const restore = captureIO();
    expect(await restoreCommand.run(context(), { reference: "latest" }, restore), restore.errText()).toBe(0);
    expect(restore.outText()).toMatch(/1 accounts erased again/);
    await expectErased(jane);
  }, slow);
});
