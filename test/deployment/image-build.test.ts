// Builds the image where a Docker daemon answers, then checks what the static test cannot: the platform
// starts as a non-root user on a read-only root filesystem. Without a daemon the suite is skipped with the
// reason; with one, it always runs, and under CI a daemon that is there but unusable fails the suite.
import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/cli.ts";
import { dockerAvailability } from "../helpers/docker.ts";

const docker = dockerAvailability();
if (!docker.run) console.log(`image build suite skipped: ${docker.reason}`);
const tag = "azora/api-gateway:test-build";

describe.skipIf(!docker.run)("container image", () => {
  it("builds, runs as non-root on a read-only root, and answers the CLI", () => {
    execFileSync("docker", ["build", "--tag", tag, "."], { cwd: repoRoot, stdio: "inherit", timeout: 1_800_000 });
    const config = JSON.parse(execFileSync("docker", ["image", "inspect", tag, "--format", "{{json .Config}}"], { encoding: "utf8" }));
    expect(config.User).toBe("1000:1000");
    expect(config.Healthcheck.Test.join(" ")).toMatch(/health\/live/);
    const run = (args: string[]) =>
      execFileSync("docker", ["run", "--rm", "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/var/lib/azora:uid=1000,gid=1000", "--cap-drop", "ALL", tag, ...args], {
        encoding: "utf8",
        timeout: 300_000,
      });
    expect(run(["--version"]).trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(run(["serve", "--help"])).toMatch(/gateway, auth or users/);
    // serve without a database refuses with the documented message, not a crash of the read-only root.
    const refused = spawnSync("docker", ["run", "--rm", "--read-only", "--tmpfs", "/tmp", tag, "serve", "auth"], { encoding: "utf8", timeout: 300_000 });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/needs a shared PostgreSQL: set DATABASE_URL/);
  });
});
