import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogs, maskEmail, maskEmailsIn, scrubLogObject } from "./logger.ts";

describe("logs", () => {
  let dir: string | undefined;
  afterEach(async () => dir && rm(dir, { recursive: true, force: true }));

  it("masks emails", () => {
    expect(maskEmail("jane.doe@example.com")).toBe("j***@example.com");
    expect(maskEmail("not-an-email")).toBe("***");
  });

  it("masks addresses inside strings (paths, percent-encoded too) and leaves other text alone", () => {
    expect(maskEmailsIn("/api/user/jane@example.com")).toBe("/api/user/j***@example.com");
    expect(maskEmailsIn("/api/user/jane%2Bx%40example.co.uk/x")).toBe("/api/user/j***@example.co.uk/x");
    expect(maskEmailsIn("/api/user/me")).toBe("/api/user/me");
    expect(maskEmailsIn("see you @home")).toBe("see you @home");
    expect(scrubLogObject({ path: "/api/user/jane@example.com", status: 404 })).toEqual({ path: "/api/user/j***@example.com", status: 404 });
  });

  it("masks exactly what a global search for an address finds, over many mixed strings", () => {
    // The search maskEmailsIn replaces: the same pattern, retried from every position.
    const everywhere = /[^\s/?#&=;,:"'<>()[\]{}@]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/gi;
    const reference = (text: string) => text.replace(everywhere, (address) => maskEmail(address.replace(/%40/i, "@")));
    const pieces = ["a", "Bo", ".", "-", "_", "@", "%40", "%4", "0", "%", "/", " ", "?", "x.y", "ex.com", "é", "\n"];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let round = 0; round < 5000; round++) {
      let text = "";
      const length = Math.floor(next() * 30);
      for (let index = 0; index < length; index++) text += pieces[Math.floor(next() * pieces.length)];
      expect(maskEmailsIn(text), JSON.stringify(text)).toBe(reference(text));
    }
    // An address straight after another, in the same run of characters; one that ends a string.
    for (const text of ["a@b.c_x@d.e", "jane@ex.comjoe@ex.org", "x%40y.z%40w.v", "me@example.com"]) expect(maskEmailsIn(text)).toBe(reference(text));
    expect(maskEmailsIn("a@b.c_x@d.e")).toBe("a***@b.c_***@d.e");
  });

  it("masks a long string without an address in time linear in its length (a hostile request path)", () => {
    // Each case is hours of work for a search that retries every start of a 1 MiB run; the timeout only
    // stops such a search (it is no measurement: the linear scan takes a small fraction of it).
    const script = [
      `import { maskEmailsIn } from ${JSON.stringify(join(import.meta.dirname, "logger.ts"))};`,
      `const run = "a".repeat(1 << 20);`,
      `for (const text of ["/" + run + "@", "/" + run + "%40", "/" + run + "@" + run]) if (maskEmailsIn(text) !== text) process.exit(2);`,
      `process.stdout.write("done");`,
    ].join("\n");
    const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    expect(result.signal).toBeNull();
    expect(result.status).toBe(0);
    expect(result.stdout).toBe("done");
  }, 90_000);

  it("scrubs credentials in nested objects and arrays, whatever the case of the key", () => {
    const scrubbed = scrubLogObject({
      Authorization: "Bearer top",
      attempts: [{ email: "jane.doe@example.com", newPassword: "pw-1" }, "plain"],
      req: { headers: { cookie: "sid=1", "set-cookie": ["sid=2"], host: "example.com" } },
      kept: { id: 7 },
    });
    expect(scrubbed).toEqual({
      Authorization: "[redacted]",
      attempts: [{ email: "j***@example.com", newPassword: "[redacted]" }, "plain"],
      req: { headers: { cookie: "[redacted]", "set-cookie": "[redacted]", host: "example.com" } },
      kept: { id: 7 },
    });
  });

  it("scrubs errors (under any key, with their own properties), class instances and arrays in arrays, and keeps errors readable", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-logs-"));
    const logs = createLogs({ dir, level: "info", stdout: false });
    class Session {
      constructor(public token: string) {}
    }
    const failure = Object.assign(new Error("upstream refused"), { password: "pw-in-error", code: "E_TEST" });
    logs.api.error({ err: failure, session: new Session("tok-in-instance") }, "failed");
    logs.api.error(Object.assign(new Error("bare"), { secret: "secret-in-bare-error" }));
    logs.api.info({ wrapped: { error: new Error("outer", { cause: Object.assign(new Error("inner"), { token: "tok-in-cause" }) }) } }, "wrapped");
    logs.api.info({ grid: [[{ refreshToken: "refresh-in-grid" }]], at: new Date(0) }, "grid");
    logs.close();
    const text = await readFile(join(dir, "api.log"), "utf8");
    for (const secret of ["pw-in-error", "tok-in-instance", "secret-in-bare-error", "tok-in-cause", "refresh-in-grid"]) expect(text).not.toContain(secret);
    const [failed] = text.trim().split("\n").map((line) => JSON.parse(line));
    expect(failed.err).toMatchObject({ type: "Error", message: "upstream refused", code: "E_TEST", password: "[redacted]" });
    expect(failed.err.stack).toContain("upstream refused");
    expect(text).toContain('"at":"1970-01-01T00:00:00.000Z"');
  });

  it("writes buffered access lines out when the process dies of an uncaught exception", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-logs-"));
    const script = [
      `import { createLogs } from ${JSON.stringify(join(import.meta.dirname, "logger.ts"))};`,
      `const logs = createLogs({ dir: ${JSON.stringify(dir)}, level: "info", stdout: false });`,
      `logs.api.error({ event: "last_words" }, "about to crash");`,
      `throw new Error("crash");`,
    ].join("\n");
    const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
    expect(result.status).toBe(1);
    expect(await readFile(join(dir, "api.log"), "utf8")).toContain('"event":"last_words"');
  });

  it("returns a clean object itself, and never changes the object it was given", () => {
    const clean = { event: "HTTP_REQUEST", status: 200, nested: { route: "/api/user/:id" } };
    expect(scrubLogObject(clean)).toBe(clean);
    const dirty = { body: { token: "t" } };
    scrubLogObject(dirty);
    expect(dirty.body.token).toBe("t");
  });

  it("writes a buffered access line out within seconds, without waiting for the buffer to fill", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-logs-"));
    const logs = createLogs({ dir, level: "info", stdout: false });
    logs.api.info({ event: "HTTP_REQUEST", route: "/api/user/:id" }, "request");
    const file = join(dir, "api.log");
    let text = "";
    for (let waited = 0; waited < 5_000 && !text.includes("HTTP_REQUEST"); waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      text = await readFile(file, "utf8");
    }
    logs.close();
    expect(text).toContain('"route":"/api/user/:id"');
  });

  it("writes each stream to its own file and never writes a credential", async () => {
    dir = await mkdtemp(join(tmpdir(), "azora-logs-"));
    const logs = createLogs({ dir, level: "info", stdout: false });
    logs.auth.warn({ event: "LOGIN_FAILED", email: "jane.doe@example.com", password: "hunter2-secret" }, "login failed");
    logs.api.info({ req: { headers: { authorization: "Bearer eyJsecret", cookie: "sid=secret-cookie" } }, body: { refreshToken: "refresh-secret" } }, "request");
    logs.security.info({ event: "SECRET_ROTATED", secret: "the-new-secret", token: "tok-secret" }, "rotated");
    logs.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const auth = await readFile(join(dir, "auth.log"), "utf8");
    const api = await readFile(join(dir, "api.log"), "utf8");
    const security = await readFile(join(dir, "security.log"), "utf8");
    expect(auth).toContain('"event":"LOGIN_FAILED"');
    expect(auth).toContain("j***@example.com");
    const all = auth + api + security;
    for (const secret of ["jane.doe@", "hunter2-secret", "eyJsecret", "secret-cookie", "refresh-secret", "the-new-secret", "tok-secret"]) {
      expect(all).not.toContain(secret);
    }
    expect(security).toContain('"event":"SECRET_ROTATED"');
  });
});

describe("isoTimeOncePerMs", () => {
  it("writes the time field as pino's isoTime does, for the current millisecond", async () => {
    const { isoTimeOncePerMs } = await import("./logger.ts");
    const pino = (await import("pino")).default;
    for (let i = 0; i < 3; i++) {
      const before = Date.now();
      const field = isoTimeOncePerMs();
      const after = Date.now();
      expect(field).toMatch(/^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
      const at = Date.parse(field.slice(9, -1));
      expect(at).toBeGreaterThanOrEqual(before);
      expect(at).toBeLessThanOrEqual(after);
      expect(field.length).toBe(pino.stdTimeFunctions.isoTime().length);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });

  it("gives toISOString's text at every millisecond, across seconds, days and years (the second is formatted once)", async () => {
    const { isoTimeOncePerMs } = await import("./logger.ts");
    const instants = [Date.UTC(2026, 11, 31, 23, 59, 58, 990), Date.UTC(2026, 10, 29, 21, 15, 8, 0), Date.UTC(2027, 0, 1, 0, 0, 0, 0)];
    vi.useFakeTimers();
    try {
      for (const start of instants) {
        for (let at = start; at < start + 2_020; at += 7) {
          vi.setSystemTime(at);
          expect(isoTimeOncePerMs()).toBe(`,"time":"${new Date(at).toISOString()}"`);
        }
      }
    } finally {
      vi.useRealTimers();
    }
  });
});
