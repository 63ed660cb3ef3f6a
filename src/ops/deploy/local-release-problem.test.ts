import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { localReleaseProblem } from "./local-target.ts";

// The version comes from the operator's command line and reaches `git rev-parse`: a ref that git would read as an
// option, or one that a shell would expand, is refused as malformed (exit 2) before git runs at all.
describe("localReleaseProblem: what a git ref of the local target may be", () => {
  const cwd = process.cwd();
  afterEach(() => process.chdir(cwd));

  it("refuses option-like refs and shell metacharacters as malformed, running nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "azora-ref-check-"));
    execFileSync("git", ["init", "-q", dir]);
    process.chdir(dir);
    const hostile = ["--output=pwned", "-h", "--end-of-options", "v1;touch pwned", "$(touch pwned)", "`touch pwned`", "v1|touch pwned", "v1 && touch pwned", "v1\ntouch pwned", "v1^{tree}", "HEAD@{1}", ":/fix", "../v1", "v1/../../etc"];
    for (const ref of hostile) expect(await localReleaseProblem(ref), ref).toMatchObject({ code: 2, message: expect.stringContaining("is not a git ref or a tarball path") });
    expect(existsSync(join(dir, "pwned"))).toBe(false);
    expect(readdirSync(dir)).toEqual([".git"]);
  });

  it("a well-formed ref that names nothing is unknown (exit 1); one that names a commit is accepted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "azora-ref-check-"));
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=Release", "-c", "user.email=release@example.com", ...args], { cwd: dir });
    git("init", "-q", "-b", "main");
    git("commit", "-q", "--allow-empty", "-m", "first");
    git("tag", "-a", "v1.2.3", "-m", "1.2.3");
    process.chdir(dir);
    expect(await localReleaseProblem("v9.9.9")).toMatchObject({ code: 1, message: expect.stringMatching(/unknown version v9\.9\.9/) });
    expect(await localReleaseProblem("v1.2.3")).toBeUndefined();
    expect(await localReleaseProblem("main")).toBeUndefined();
  });
});
