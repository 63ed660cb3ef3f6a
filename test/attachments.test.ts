import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setRoleCommand } from "../src/ops/user.ts";
import { apiClient, expectErrorShape } from "./helpers/api.ts";
import { captureIO } from "./helpers/gdpr.ts";
import { downloadFile, pngBytes, uploadFile } from "./helpers/attachments.ts";
import { backends, type Backend } from "./helpers/backends.ts";
import { startTestPlatform, type TestPlatform } from "./helpers/platform.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

const MAX_BYTES = 64 * 1024;
const runs: { name: string; backend: Backend; s3: boolean }[] = [
  ...backends().map((backend) => ({ name: `${backend.name}, local blobs`, backend, s3: false })),
  ...backends().slice(-1).map((backend) => ({ name: `${backend.name}, S3 blobs (s3rver)`, backend, s3: true })),
];

describe.each(runs)("attachments on $name", ({ backend, s3: useS3 }) => {
  let platform: TestPlatform;
  let s3: TestS3 | undefined;
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    s3 = useS3 ? await startS3() : undefined;
    platform = await startTestPlatform(backend, { ATTACHMENT_MAX_BYTES: String(MAX_BYTES), ...s3?.env });
    api = apiClient(platform.baseUrl);
  });
  afterAll(async () => {
    await platform?.stop();
    await s3?.stop();
  });

  const newContent = async (token: string) => (await api.call("POST", "/api/content", { token, json: { title: "with files" } })).body.id as string;
  const storedBlobs = async () => {
    const found: string[] = [];
    for await (const key of platform.running.context.blobs.list()) found.push(key);
    return found;
  };

  it("stores a file, sniffs its type whatever the client claims, and serves it back byte for byte", async () => {
    const user = await api.newUser();
    const contentId = await newContent(user.accessToken);
    const bytes = pngBytes();
    const uploaded = await uploadFile(platform.baseUrl, user.accessToken, contentId, { bytes, filename: "../../holiday photo é.html", type: "text/html" });
    expect(uploaded.status).toBe(201);
    expect(uploaded.body).toMatchObject({ contentId, filename: "holiday photo é.html", contentType: "image/png", size: bytes.length });
    expect(uploaded.headers.get("location")).toBe(`/api/content/${contentId}/attachments/${uploaded.body.id}`);

    const download = await downloadFile(platform.baseUrl, user.accessToken, `/api/content/${contentId}/attachments/${uploaded.body.id}`);
    expect(download.status).toBe(200);
    expect(download.bytes.equals(bytes)).toBe(true);
    expect(download.headers.get("content-type")).toBe("image/png");
    expect(download.headers.get("x-content-type-options")).toBe("nosniff");
    expect(download.headers.get("content-disposition")).toBe(`attachment; filename="holiday photo _.html"; filename*=UTF-8''holiday%20photo%20%C3%A9.html`);

    const list = await api.get(`/api/content/${contentId}/attachments`, user.accessToken);
    expect(list.body.items.map((item: { id: string }) => item.id)).toEqual([uploaded.body.id]);
  });

  it("serves uploaded HTML as plain text, never as a page", async () => {
    const user = await api.newUser();
    const contentId = await newContent(user.accessToken);
    const uploaded = await uploadFile(platform.baseUrl, user.accessToken, contentId, { bytes: Buffer.from("<script>alert(1)</script>"), filename: "x.html", type: "text/html" });
    expect(uploaded.body.contentType).toBe("text/plain; charset=utf-8");
    const download = await downloadFile(platform.baseUrl, user.accessToken, `/api/content/${contentId}/attachments/${uploaded.body.id}`);
    expect(download.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(download.headers.get("content-security-policy")).toContain("sandbox");
  });

  it("lets only the owner or an admin reach a file; others get 404", async () => {
    const owner = await api.newUser();
    const stranger = await api.newUser();
    const contentId = await newContent(owner.accessToken);
    const uploaded = await uploadFile(platform.baseUrl, owner.accessToken, contentId, { bytes: Buffer.from("private"), filename: "a.txt" });
    const path = `/api/content/${contentId}/attachments/${uploaded.body.id}`;
    expectErrorShape(await api.get(path, stranger.accessToken), 404, "not_found");
    expectErrorShape(await api.call("DELETE", path, { token: stranger.accessToken }), 404, "not_found");
    expectErrorShape(await uploadFile(platform.baseUrl, stranger.accessToken, contentId, { bytes: Buffer.from("x"), filename: "b.txt" }), 404, "not_found");
    expectErrorShape(await api.get(path), 401);
    expectErrorShape(await api.call("GET", path, { headers: { authorization: "Bearer not-a-token" } }), 401, "invalid_token");
    expectErrorShape(await api.get(`/api/content/not-a-uuid/attachments`, owner.accessToken), 400, "invalid_request");
  });

  it("lets an admin reach anyone's files", async () => {
    const owner = await api.newUser();
    const admin = await api.newUser("admin");
    expect(await setRoleCommand.run(platform.running.context, { email: admin.email, role: "admin" }, captureIO())).toBe(0);
    const contentId = await newContent(owner.accessToken);
    const uploaded = await uploadFile(platform.baseUrl, owner.accessToken, contentId, { bytes: Buffer.from("for the admin"), filename: "a.txt" });
    const download = await downloadFile(platform.baseUrl, admin.accessToken, `/api/content/${contentId}/attachments/${uploaded.body.id}`);
    expect(download.bytes.toString()).toBe("for the admin");
  });

  it("deletes a file and its blob; equal files share one blob until the last goes", async () => {
    const user = await api.newUser();
    const contentId = await newContent(user.accessToken);
    const bytes = Buffer.from(`shared bytes ${contentId}`);
    const first = await uploadFile(platform.baseUrl, user.accessToken, contentId, { bytes, filename: "one.txt" });
    const second = await uploadFile(platform.baseUrl, user.accessToken, contentId, { bytes, filename: "two.txt" });
    const blobsWithBoth = await storedBlobs();
    expect((await api.call("DELETE", `/api/content/${contentId}/attachments/${first.body.id}`, { token: user.accessToken })).status).toBe(204);
    expect(await storedBlobs()).toEqual(blobsWithBoth);
    expect((await downloadFile(platform.baseUrl, user.accessToken, `/api/content/${contentId}/attachments/${second.body.id}`)).bytes.equals(bytes)).toBe(true);
    expect((await api.call("DELETE", `/api/content/${contentId}/attachments/${second.body.id}`, { token: user.accessToken })).status).toBe(204);
    expect((await storedBlobs()).length).toBe(blobsWithBoth.length - 1);
    expectErrorShape(await api.call("DELETE", `/api/content/${contentId}/attachments/${second.body.id}`, { token: user.accessToken }), 404, "not_found");
  });

  it("removes the blobs of content that is deleted", async () => {
    const user = await api.newUser();
    const contentId = await newContent(user.accessToken);
    await uploadFile(platform.baseUrl, user.accessToken, contentId, { bytes: Buffer.from(`only here ${contentId}`), filename: "gone.txt" });
    const before = (await storedBlobs()).length;
    expect((await api.call("DELETE", `/api/content/${contentId}`, { token: user.accessToken })).status).toBe(204);
    expect((await storedBlobs()).length).toBe(before - 1);
  });

  it("answers bad uploads with a 4xx in the error shape and keeps nothing", async () => {
    const user = await api.newUser();
    const contentId = await newContent(user.accessToken);
    const before = await storedBlobs();
    const tooLarge = await uploadFile(platform.baseUrl, user.accessToken, contentId, { bytes: Buffer.alloc(MAX_BYTES + 1, 7), filename: "big.bin" });
    expectErrorShape(tooLarge as never, 413, "payload_too_large");
    const exactlyTheLimit = await uploadFile(platform.baseUrl, user.accessToken, contentId, { bytes: Buffer.alloc(MAX_BYTES, 8), filename: "limit.bin" });
    expect(exactlyTheLimit.status).toBe(201);
    expectErrorShape((await uploadFile(platform.baseUrl, user.accessToken, contentId, { bytes: Buffer.alloc(0), filename: "empty.txt" })) as never, 400, "invalid_request");
    expectErrorShape((await uploadFile(platform.baseUrl, user.accessToken, contentId, { bytes: Buffer.from("x"), filename: "x.txt", field: "upload" })) as never, 400, "invalid_request");
    expectErrorShape(await api.call("POST", `/api/content/${contentId}/attachments`, { token: user.accessToken, json: { file: "x" } }), 415, "unsupported_media_type");
    const noFile = await fetch(new URL(`/api/content/${contentId}/attachments`, platform.baseUrl), {
      method: "POST",
      headers: { authorization: `Bearer ${user.accessToken}` },
      body: (() => {
        const form = new FormData();
        form.append("title", "no file here");
        return form;
      })(),
    });
    expect(noFile.status).toBe(400);
    expectErrorShape((await uploadFile(platform.baseUrl, user.accessToken, "00000000-0000-4000-8000-000000000000", { bytes: Buffer.from("x"), filename: "x.txt" })) as never, 404, "not_found");
    expectErrorShape(await api.get(`/api/content/${contentId}/attachments/not-a-uuid`, user.accessToken), 400, "invalid_request");
    expectErrorShape(await api.get(`/api/content/${contentId}/attachments/00000000-0000-4000-8000-000000000000`, user.accessToken), 404, "not_found");
    expect((await storedBlobs()).length).toBe(before.length + 1);
    if (!useS3) {
      const staging = await readdir(join(platform.config.paths.blobs, ".staging")).catch(() => []);
      expect(staging).toEqual([]);
    }
  });
});
