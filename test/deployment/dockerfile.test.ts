// The image's properties, read from the Dockerfile itself (the build test needs a Docker daemon; this does not).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultPolicyPath } from "../../src/services/security/policy.ts";
import { repoRoot } from "../helpers/cli.ts";

const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
/** Instructions with their continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith("#"));
const named = (keyword: string) => instructions.filter((line) => line.toUpperCase().startsWith(`${keyword} `));
const finalStage = instructions.slice(instructions.lastIndexOf(named("FROM").at(-1)!));

describe("Dockerfile", () => {
  it("builds in stages on Node 24 LTS", () => {
    expect(named("FROM").length).toBeGreaterThanOrEqual(2);
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(image).toMatch(/^node:24\.\d+\.\d+-[a-z]+-slim$/); // a pinned patch release, not a moving tag
  });

  it("installs production dependencies only, from the lock file", () => {
    const install = named("RUN").filter((line) => line.includes("npm "));
    expect(install.some((line) => /npm ci\b.*--omit=dev/.test(line))).toBe(true);
    expect(install.some((line) => /npm install\b/.test(line))).toBe(false);
  });

  it("runs as an unprivileged user, by number", () => {
    const users = finalStage.filter((line) => line.startsWith("USER "));
    expect(users).toHaveLength(1);
    expect(users[0]).toMatch(/^USER [1-9]\d*(:[1-9]\d*)?$/);
  });

  it("writes only under DATA_DIR and /tmp, so a read-only root filesystem works", () => {
    expect(finalStage.some((line) => /^ENV .*DATA_DIR=\/var\/lib\/azora/.test(line))).toBe(true);
    expect(named("VOLUME")).toEqual([]); // volumes are the orchestrator's choice (emptyDir, PVC)
  });

  it("checks health on the ops port's liveness endpoint", () => {
    const healthcheck = named("HEALTHCHECK").join(" ");
    expect(healthcheck).toMatch(/OPS_PORT/);
    expect(healthcheck).toMatch(/\/health\/live/);
  });

  it("is one image whose command picks the service", () => {
    expect(named("ENTRYPOINT")).toEqual(['ENTRYPOINT ["node", "bin/azora.js"]']);
    expect(named("CMD").at(-1)).toBe('CMD ["serve", "gateway"]');
  });

  it("copies only what exists and what .dockerignore lets through", () => {
    const ignore = readFileSync(join(repoRoot, ".dockerignore"), "utf8").split("\n").filter((line) => line && !line.startsWith("#"));
    expect(ignore[0]).toBe("*"); // an allow-list: data/, .git, secrets stay out of the build context
    const allowed = ignore.filter((line) => line.startsWith("!")).map((line) => line.slice(1).replace(/\/$/, ""));
    const sources = named("COPY")
      .filter((line) => !line.includes("--from="))
      .flatMap((line) => line.split(/\s+/).slice(1, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) {
      expect(allowed, source).toContain(source);
      expect(existsSync(join(repoRoot, source)), source).toBe(true);
    }
    // What the running code reads from the package: the CLI, the sources, the migrations, and the security
    // policy every process loads at start (without it no service starts).
    for (const needed of ["package.json", "package-lock.json", "bin", "src", "migrations", "deployment/security"]) expect(sources).toContain(needed);
    expect(existsSync(defaultPolicyPath)).toBe(true);
    expect(defaultPolicyPath.startsWith(join(repoRoot, "deployment/security"))).toBe(true);
  });
});
