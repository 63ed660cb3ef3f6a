// Running the guide's deploy scripts against the kubectl stub, and reading back what they changed.
import { execFile, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { embedded } from "./backends.ts";
import { repoRoot } from "./cli.ts";
import { kubectlStub, releaseRepo, type KubectlStub } from "./kubectl-stub.ts";
import { renderOverlay } from "./kubernetes.ts";
import { startTestPlatform, type TestPlatform } from "./platform.ts";

export interface ScriptResult {
  code: number;
  /** The signal that ended the process when it did not exit by itself. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The calls that change something, one line each: `apply Kind/name` for documents, reads and state writes left out. */
export function changes(stub: KubectlStub, from = 0): string[] {
  return stub
    .calls()
    .slice(from)
    .filter(({ args }) => args[0] !== "get")
    .map(({ args, stdin }) => {
      // The rollback request (or a deploy's claim on its slot): its kind is what matters, not who or when.
      if (args[0] === "create" && args[2] === "azora-deploy-rollback") return `create configmap azora-deploy-rollback ${args.find((arg) => arg.startsWith("--from-literal=kind="))!.slice(15)}`;
      // A release by id: deleted only while it is still the one this command created (the uid precondition).
      if (args[0] === "delete" && args[1] === "--raw") return `delete own configmap ${args[2]!.split("/").pop()}`;
      if (args[0] !== "apply") return args.join(" ").replace(/ --from-literal=since=\S+/, "").replace(/ --from-literal=id=\S+/, "").replace(/holder=\S+ pid \d+/, "holder=…");
      const object = JSON.parse(stdin) as { kind: string; metadata: { name: string } };
      return `apply ${object.kind}/${object.metadata.name}`;
    })
    .filter((line) => line !== "apply ConfigMap/azora-deploy-state");
}

/**
 * Starts a script of deployment/ (or ../bin/azora.js) in `cwd` with the stub first on PATH and its
 * port-forwards pointed at `ports`; `child` is the azora process itself (the scripts exec it).
 */
export function startScript(stub: KubectlStub, cwd: string, ports: Record<string, string>, script: string, args: string[], extraEnv: Record<string, string> = {}): { child: ChildProcess; done: Promise<ScriptResult>; stderr(): string } {
  let child!: ChildProcess;
  let stderrSoFar = "";
  const done = new Promise<ScriptResult>((resolve) => {
    child = execFile(
      join(repoRoot, "deployment", script),
      args,
      {
        cwd,
        env: { PATH: `${stub.binDir}:${process.env.PATH}`, HOME: process.env.HOME ?? "/tmp", LOG_STDOUT: "false", ...stub.env, ...ports, ...extraEnv },
        timeout: 600_000,
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, signal: (error?.signal as NodeJS.Signals | undefined) ?? null, stdout, stderr }),
    );
  });
  // What it has said so far, for a test that acts once the command has reached a point (a signal handled, say).
  child.stderr?.on("data", (chunk: Buffer | string) => (stderrSoFar += chunk.toString()));
  return { child, done, stderr: () => stderrSoFar };
}

/** A stub whose store is the rendered staging overlay, as a cluster the overlay was applied to. */
export function stagingStub(): KubectlStub {
  return kubectlStub(renderOverlay("staging"));
}

/** The deploy's state as the scripts keep it (the azora-deploy-state ConfigMap), or {} before the first deploy. */
export function deployState(stub: KubectlStub): any {
  return JSON.parse(stub.object("ConfigMap", "azora-deploy-state")?.data?.state ?? "{}");
}

/** The three Services' selectors moved to one track, as docs/deployment.md lists the calls. */
export const route = (track: string) =>
  ["auth-service", "user-service", "api-gateway"].map((name) => `patch service ${name} --type=merge -p {"spec":{"selector":{"azora.os/track":"${track}"}}}`);

/** The preview track's objects removed, as docs/deployment.md lists the calls. */
export const removePreview = [
  "delete deployment auth-service-preview --ignore-not-found",
  "delete service auth-service-preview --ignore-not-found",
  "delete deployment user-service-preview --ignore-not-found",
  "delete service user-service-preview --ignore-not-found",
  "delete deployment api-gateway-preview --ignore-not-found",
];

/** Requests that keep reaching a platform until stopped; stop() answers how many failed. */
export interface Traffic {
  stop(): Promise<number>;
}

/** What a deploy suite runs against: a platform behind the stub's port-forwards, and a release repository. */
export interface DeployTarget {
  platform: TestPlatform;
  /** startScript in the release repository, the port-forwards on the platform unless extraEnv points them elsewhere. */
  start(stub: KubectlStub, script: string, args: string[], extraEnv?: Record<string, string>): ReturnType<typeof startScript>;
  /** /health requests every 20 ms, as live traffic would reach the new version through the gateway. */
  traffic(): Traffic;
  stop(): Promise<void>;
}

/** Starts the target of a deploy suite: an embedded platform (it only has to answer as a release would), and `tags` to deploy. */
export async function startDeployTarget(tags: string[]): Promise<DeployTarget> {
  const repo = releaseRepo(tags);
  let platform: TestPlatform;
  try {
    platform = await startTestPlatform(embedded);
  } catch (error) {
    repo.dispose();
    throw error;
  }
  const ports = { STUB_PORT_8080: new URL(platform.baseUrl).port, STUB_PORT_9090: new URL(platform.opsUrl).port };
  return {
    platform,
    start: (stub, script, args, extraEnv = {}) => startScript(stub, repo.dir, ports, script, args, extraEnv),
    traffic() {
      let running = true;
      let failed = 0;
      const loop = (async () => {
        while (running) {
          const response = await fetch(new URL("/health", platform.baseUrl)).catch(() => undefined);
          if (!response?.ok) failed++;
          await response?.text();
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      return {
        stop: async () => {
          running = false;
          await loop;
          return failed;
        },
      };
    },
    async stop() {
      repo.dispose();
      await platform.stop();
    },
  };
}
