import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupFullCommand } from "../src/ops/backup.ts";
import { acquireContentLock } from "../src/ops/backup/content-lock.ts";
import { restoreCommand } from "../src/ops/restore.ts";
import { createMaintenanceRepository } from "../src/services/gateway/maintenance.repository.ts";
import { apiClient, expectErrorShape, type ApiResponse } from "./helpers/api.ts";
import { backends } from "./helpers/backends.ts";
import { dropRestoreLeftovers } from "./helpers/backup.ts";
import { captureIO } from "./helpers/gdpr.ts";
import { waitUntil } from "./helpers/wait.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";

/** A restore holds writes off with maintenance mode, gives it back at the end, and also when it fails. */
describe.each(backends())("restore under maintenance mode ($name)", (backend) => {
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

  const backupId = async () => {
    const io = captureIO();
    expect(await backupFullCommand.run(context(), { kind: "full", json: true }, io), io.errText()).toBe(0);
    return JSON.parse(io.outText()).id as string;
  };

  it("writes during a restore answer 503 maintenance, reads are answered the same way, and the restored state is consistent", async () => {
    const owner = await api.newUser("restorer");
    const id = await backupId();

    const restore = restoreCommand.run(context(), { reference: id }, captureIO());
    let done = false;
    void restore.finally(() => (done = true));
    // A write load against the restore: each write makes a user's content, so an orphan would show.
    const writes: ApiResponse[] = [];
    const reads: ApiResponse[] = [];
    while (!done) {
      writes.push(await api.call("POST", "/api/content", { token: owner.accessToken, json: { title: "during the restore" } }));
      reads.push(await api.get("/api/content", owner.accessToken));
    }
    expect(await restore).toBe(0);

    const refused = writes.filter((response) => response.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const response of refused) {
      expectErrorShape(response, 503, "maintenance");
      expect(response.headers.get("retry-after")).toBe("60");
    }
    // Nothing else than accepted-before-maintenance or maintenance: never a 500 while the database is swapped.
    expect(writes.every((response) => response.status === 201 || response.status === 503)).toBe(true);
    // One window: accepted before maintenance began, refused throughout, accepted again once it ended.
    expect(writes.map((response) => (response.status === 503 ? "m" : "w")).join("")).toMatch(/^w*m+w*$/);
    expect(reads.every((response) => response.status === 200 || response.headers.get("content-type")?.includes("json"))).toBe(true);
    for (const response of reads.filter((read) => read.status !== 200)) expectErrorShape(response, 503, "maintenance");

    // Served again, from the backup, with the flag off in the restored database.
    expect((await createMaintenanceRepository(context().db).read()).enabled).toBe(false);
    expect((await api.call("POST", "/api/content", { token: owner.accessToken, json: { title: "after" } })).status).toBe(201);
    const [orphans] = await context().db.query<{ n: string }>("SELECT count(*)::text AS n FROM content c WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.owner_id)");
    expect(orphans?.n).toBe("0");
  }, slow);

  it("a restore that fails switches maintenance off again and the previous database keeps serving", async () => {
    const user = await api.newUser("stays");
    const id = await backupId();
    const dir = join(context().config.paths.backups, id);
    const dump = join(dir, (await readdir(dir)).find((name) => name.startsWith("database.")) ?? "");
    const bytes = await readFile(dump);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    await writeFile(dump, bytes);

    const io = captureIO();
    expect(await restoreCommand.run(context(), { reference: id }, io)).toBe(1);
    expect(io.errText()).toMatch(/is damaged; nothing was changed/);
    expect((await createMaintenanceRepository(context().db).read()).enabled).toBe(false);
    expect((await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "still here" } })).status).toBe(201);
  }, slow);

  it("a maintenance window the operator opened stays open after the restore", async () => {
    await createMaintenanceRepository(context().db).write({ enabled: true, message: "Planned work", retryAfterSeconds: 900 });
    const io = captureIO();
    expect(await restoreCommand.run(context(), { reference: await backupId() }, io), io.errText()).toBe(0);
    expect(await createMaintenanceRepository(context().db).read()).toMatchObject({ enabled: true, message: "Planned work", retryAfterSeconds: 900 });
    await createMaintenanceRepository(context().db).write({ enabled: false, message: "", retryAfterSeconds: 900 });
  }, slow);

  it("a restore while a content backup holds the content pool is refused at once, naming it, without maintenance mode", async () => {
    // The window the test before closed is seen by the gateway within one poll.
    const user = await waitUntil(() => api.newUser("content-busy").catch(() => undefined), "the gateway to serve writes again");
    const id = await backupId();
    const release = await acquireContentLock(context(), "a content backup");
    try {
      const io = captureIO();
      expect(await restoreCommand.run(context(), { reference: id }, io)).toBe(1);
      expect(io.errText()).toContain(`in use by a content backup (process ${process.pid}, since `);
      expect(io.errText()).toMatch(/maintenance mode was not switched on and nothing was changed/);
      expect((await createMaintenanceRepository(context().db).read()).enabled).toBe(false);
      expect((await api.call("POST", "/api/content", { token: user.accessToken, json: { title: "never refused" } })).status).toBe(201);
    } finally {
      await release();
    }
    // Once the content backup has ended the restore runs, and lets go of the content lock when it is done.
    const io = captureIO();
    expect(await restoreCommand.run(context(), { reference: id }, io), io.errText()).toBe(0);
    await (await acquireContentLock(context(), "a content backup", { retries: 0 }))();
  }, slow);
});
