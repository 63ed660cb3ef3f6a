import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { isCi } from "../../src/platform/config.ts";
import { hasTool } from "./tools.ts";

export interface DockerProbe {
  ci: boolean;
  /** The docker client is on PATH. */
  client: boolean;
  /** Something says a daemon should be there: DOCKER_HOST is set, or /var/run/docker.sock exists. */
  daemonExpected: boolean;
  /** `docker info`'s outcome, when the client was asked. */
  info?: { ok: boolean; detail: string };
}

/**
 * Whether the image build runs. Without a daemon it is skipped with the reason; under CI, a daemon that is
 * there (its socket or DOCKER_HOST) but unusable (no client, or no answer) fails instead of skipping.
 */
export function dockerDecision(probe: DockerProbe): { run: boolean; reason: string } {
  if (!probe.client) {
    if (probe.ci && probe.daemonExpected) throw new Error("a Docker daemon is there but the docker client is not on PATH under CI: install the docker CLI in .ci/run");
    return { run: false, reason: "no docker client on PATH" };
  }
  if (probe.info?.ok) return { run: true, reason: "" };
  const reason = `no Docker daemon answers (${probe.info?.detail || "docker info failed"})`;
  if (probe.ci && probe.daemonExpected) throw new Error(`${reason}, yet DOCKER_HOST or /var/run/docker.sock says one is there: under CI the image build must run`);
  return { run: false, reason };
}

/** Probes this machine (docker info is given 60 s: the machine may be loaded). */
export function dockerAvailability(env: NodeJS.ProcessEnv = process.env): { run: boolean; reason: string } {
  const client = hasTool("docker");
  const daemonExpected = Boolean(env.DOCKER_HOST) || existsSync("/var/run/docker.sock");
  let info: DockerProbe["info"];
  if (client) {
    const answer = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8", timeout: 60_000 });
    info = { ok: answer.status === 0, detail: answer.status === null ? "docker info did not answer within 60 s" : (answer.stderr || "").trim().split("\n")[0] ?? "" };
  }
  return dockerDecision({ ci: isCi(env), client, daemonExpected, info });
}
