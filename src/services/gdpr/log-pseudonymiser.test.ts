import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { linesAbout, pseudonymiseLogs, replacementsFor, sameLength } from "./log-pseudonymiser.ts";

const subject = { id: "6f1c2b9e-0d3a-4c5e-9f7a-1b2c3d4e5f60", email: "jane.doe@example.com" };
const pseudonym = "erased-0123456789abcdef0123456789";
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "azora-logs-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const lines = [
  JSON.stringify({ event: "USER_REGISTERED", userId: subject.id, email: "j***@example.com" }),
  JSON.stringify({ event: "LOGIN_FAILED", email: "j***@example.com", reason: "unknown_email" }),
  JSON.stringify({ event: "LOGIN_SUCCEEDED", userId: subject.id.toUpperCase(), note: "Jane.Doe@Example.com", name: "Zoë" }),
  JSON.stringify({ event: "LOGIN_SUCCEEDED", userId: "someone-else" }),
];

describe("pseudonymiseLogs", () => {
  it("replaces the id, the email and its masked form on the person's lines, keeping every byte offset", async () => {
    const file = join(dir, "auth.log");
    const original = `${lines.join("\n")}\n`;
    await writeFile(file, original);
    const report = await pseudonymiseLogs(dir, replacementsFor(subject, pseudonym), false);
    expect(report).toEqual({ files: 1, lines: 2 });
    const after = await readFile(file, "utf8");
    expect(Buffer.byteLength(after)).toBe(Buffer.byteLength(original));
    expect(after.toLowerCase()).not.toContain(subject.id);
    expect(after.toLowerCase()).not.toContain(subject.email);
    // Another person's masked email (same mask) on a line that is not about this person stays.
    const [first, second, third, fourth] = after.split("\n");
    expect(JSON.parse(first as string)).toEqual({ event: "USER_REGISTERED", userId: sameLength(pseudonym, 36), email: sameLength(pseudonym, 16) });
    expect(second).toBe(lines[1]);
    expect(JSON.parse(third as string).name).toBe("Zoë");
    expect(fourth).toBe(lines[3]);
  });

  it("counts without writing on a dry run, and rewrites rotated, compressed files", async () => {
    await writeFile(join(dir, "security.log.1.gz"), gzipSync(Buffer.from(`${lines.join("\n")}\n`)));
    await writeFile(join(dir, "api.log"), `${lines[0]}\n`);
    expect(await pseudonymiseLogs(dir, replacementsFor(subject, pseudonym), true)).toEqual({ files: 2, lines: 3 });
    expect(await readFile(join(dir, "api.log"), "utf8")).toBe(`${lines[0]}\n`);
    await pseudonymiseLogs(dir, replacementsFor(subject, pseudonym), false);
    expect(gunzipSync(await readFile(join(dir, "security.log.1.gz"))).toString().toLowerCase()).not.toContain(subject.id);
    expect(await linesAbout(dir, [subject.id, subject.email])).toEqual([]);
  });

  it("handles lines that cross the read buffer", async () => {
    const filler = JSON.stringify({ event: "http_request", path: "x".repeat(5000) });
    const many = Array.from({ length: 2000 }, (_, index) => (index % 100 === 0 ? lines[0] : filler));
    await writeFile(join(dir, "api.log"), `${many.join("\n")}\n`);
    expect((await pseudonymiseLogs(dir, replacementsFor(subject, pseudonym), false)).lines).toBe(20);
    expect((await readFile(join(dir, "api.log"), "utf8")).includes(subject.id)).toBe(false);
  });
});
