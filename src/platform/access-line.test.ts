import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { accessLineWriter, formatAccessLine, jsonString, type AccessLine } from "./access-line.ts";
import { LogEvent } from "./log-events.ts";
import { createLogs } from "./logger.ts";

const plain: AccessLine = {
  requestId: "8c6f7a52-1f0e-4a43-9d51-6f1b7f3f0c2e",
  method: "GET",
  route: "/api/user/:id",
  path: "/api/user/0d9e3f1c-2b7a-4c55-8e11-7d2f9a6b4c31",
  status: 200,
  durationMs: 0.4,
  ip: "127.0.0.1",
  user: "0d9e3f1c-2b7a-4c55-8e11-7d2f9a6b4c31",
  tokenId: "tok-jti-1",
};

/** Strings a client can put in a path (or that reach another field), each hostile to a hand-written serializer. */
const hostile = [
  'quote " in the middle',
  "back\\slash and \\\" both",
  "new\nline and carriage\rreturn",
  "tab\tnul\u0000bell\u0007escape\u001bdel\u007f",
  "unicode é ü ß 中文 and 🙂",
  "line separator \u2028 and paragraph \u2029",
  "</script><script>alert(1)</script>",
  "x".repeat(200) + '"',
  "",
];

/** The line of the general logger path (before the template), as http.ts wrote it. */
const viaLogger = (logger: pino.Logger, line: AccessLine) => logger.info({ event: LogEvent.HTTP_REQUEST, ...line }, "request");

const withoutTime = (text: string) => text.replace(/,"time":"[^"]+"/, "");

describe("access line", () => {
  let dir: string | undefined;
  afterEach(async () => dir && rm(dir, { recursive: true, force: true }));

  const logsIn = async (options: { level?: string } = {}) => {
    dir = await mkdtemp(join(tmpdir(), "azora-access-line-"));
    return createLogs({ dir, level: options.level ?? "info", stdout: false });
  };
  const apiLines = async () => (await readFile(join(dir ?? "", "api.log"), "utf8")).split("\n").filter(Boolean);

  it("writes byte for byte what the general logger path wrote, hostile values included", async () => {
    const logs = await logsIn();
    const edge = logs.api.child({ service: "gateway" });
    const write = accessLineWriter(edge);
    const cases: AccessLine[] = [plain, { ...plain, user: undefined, tokenId: undefined }, { ...plain, ip: undefined, durationMs: Number.NaN }];
    for (const value of hostile) {
      cases.push({ ...plain, path: value }, { ...plain, route: value, method: value, user: value, tokenId: value, ip: value, requestId: value });
    }
    cases.push({ ...plain, path: "/api/user/jane.doe@example.com" }, { ...plain, path: "/api/user/jane%40example.com/x" });
    for (const line of cases) {
      viaLogger(edge, line);
      write(line);
    }
    logs.close();
    const lines = await apiLines();
    expect(lines).toHaveLength(cases.length * 2);
    for (let index = 0; index < cases.length; index++) {
      const [before, after] = [lines[2 * index] ?? "", lines[2 * index + 1] ?? ""];
      const parsedBefore = JSON.parse(withoutTime(before));
      const parsedAfter = JSON.parse(withoutTime(after));
      expect(JSON.parse(after).time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(parsedAfter).toEqual(parsedBefore);
      expect(Object.keys(parsedAfter)).toEqual(Object.keys(parsedBefore));
      // The text differs only where the template is stricter: U+2028/U+2029 escaped rather than raw.
      expect(withoutTime(after)).toBe(withoutTime(before).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029"));
    }
    expect(lines.join("\n")).not.toContain("jane.doe@");
    expect(lines.join("\n")).not.toContain("jane%40");
  });

  it("keeps each hostile value on one line of JSON that reads back as the value sent, lone surrogates too", () => {
    for (const value of [...hostile, "lone \ud800 high", "lone \udc00 low", "reversed \udc00\ud800 pair"]) {
      const text = formatAccessLine('{"level":"info"', { ...plain, path: value, user: value, ip: value, route: value });
      expect(text.endsWith("}\n")).toBe(true);
      // One line for every reader: no raw line break of any kind before the final newline.
      expect(text.slice(0, -1)).not.toMatch(/[\n\r\u2028\u2029\u0085]/);
      expect(text.slice(0, -1)).not.toMatch(/[\u0000-\u001f]/);
      const parsed = JSON.parse(text);
      expect(parsed).toMatchObject({ level: "info", event: "http_request", path: value, user: value, ip: value, route: value, msg: "request" });
    }
  });

  it("reads back exactly when fields only look like an encoded @ once joined", () => {
    const line = { ...plain, route: "/api/x%4", path: "0@/y", user: "jane%4", tokenId: "0example.com" };
    expect(JSON.parse(formatAccessLine('{"level":"info"', line))).toMatchObject({ route: "/api/x%4", path: "0@/y", user: "jane%4", tokenId: "0example.com" });
  });

  it("escapes as JSON.stringify does, and leaves a safe string as it is", () => {
    for (const value of hostile) expect(JSON.parse(jsonString(value))).toBe(value);
    expect(jsonString("/api/user/me")).toBe('"/api/user/me"');
    expect(jsonString('a"b')).toBe(JSON.stringify('a"b'));
  });

  it("writes nothing when the level is above info, and follows a level changed at run time", async () => {
    const logs = await logsIn({ level: "warn" });
    const edge = logs.api.child({ service: "gateway" });
    const write = accessLineWriter(edge);
    write({ ...plain, requestId: "while-warn-1" });
    edge.level = "info";
    write({ ...plain, requestId: "after-info-1" });
    logs.close();
    const text = (await apiLines()).join("\n");
    expect(text).not.toContain("while-warn-1");
    expect(text).toContain("after-info-1");
  });

  it("shares api.log with the other lines in order, and follows a rotation (mv, then reopen)", async () => {
    const logs = await logsIn();
    const edge = logs.api.child({ service: "gateway" });
    const write = accessLineWriter(edge);
    write({ ...plain, requestId: "before-rotation", status: 429 });
    edge.warn({ event: LogEvent.RATE_LIMIT_EXCEEDED, ip: "127.0.0.1", route: "/api/auth/login" }, "rate limit exceeded");
    logs.flush();
    await rename(join(dir ?? "", "api.log"), join(dir ?? "", "api.log.1"));
    logs.reopen();
    write({ ...plain, requestId: "after-rotation" });
    logs.close();
    const rotated = (await readFile(join(dir ?? "", "api.log.1"), "utf8")).split("\n").filter(Boolean).map((line) => JSON.parse(line));
    expect(rotated.map((line) => line.event)).toEqual(["http_request", "RATE_LIMIT_EXCEEDED"]);
    expect(rotated[0]).toMatchObject({ requestId: "before-rotation", status: 429, service: "gateway", log: "api" });
    const current = (await apiLines()).map((line) => JSON.parse(line));
    expect(current).toEqual([expect.objectContaining({ requestId: "after-rotation", event: "http_request" })]);
  });

  it("writes to stdout as well when the logs do", () => {
    const script = [
      `import { createLogs } from ${JSON.stringify(join(import.meta.dirname, "logger.ts"))};`,
      `import { accessLineWriter } from ${JSON.stringify(join(import.meta.dirname, "access-line.ts"))};`,
      `import { mkdtempSync } from "node:fs"; import { tmpdir } from "node:os"; import { join } from "node:path";`,
      `const logs = createLogs({ dir: mkdtempSync(join(tmpdir(), "azora-access-stdout-")), level: "info", stdout: true });`,
      `accessLineWriter(logs.api.child({ service: "gateway" }))(${JSON.stringify({ ...plain, requestId: "on-stdout-1" })});`,
      `logs.close();`,
    ].join("\n");
    const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
    expect(result.status).toBe(0);
    const line = result.stdout.split("\n").find((text) => text.includes("on-stdout-1"));
    expect(JSON.parse(line ?? "")).toMatchObject({ event: "http_request", service: "gateway", log: "api", requestId: "on-stdout-1" });
  });

  it("goes through logger.info for a logger that createLogs did not make", () => {
    const written: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written.push(chunk.toString());
        done();
      },
    });
    const logger = pino({ base: undefined, timestamp: false }, sink);
    accessLineWriter(logger)(plain);
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        expect(JSON.parse(written.join(""))).toMatchObject({ event: "http_request", ...plain, msg: "request" });
        resolve();
      }),
    );
  });
});
