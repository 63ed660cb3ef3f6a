// Running the guide's deploy scripts against the kubectl stub, and reading back what they changed.
import { execFile, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./cli.ts";
import type { KubectlStub } from "./kubectl-stub.ts";

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
