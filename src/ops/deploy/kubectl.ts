import { spawn, type ChildProcess } from "node:child_process";

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How the deploy engine talks to a cluster: the real kubectl on PATH, in the namespace of one environment. */
export interface Kubectl {
  namespace: string;
  /** Runs `kubectl -n NAMESPACE ARGS…`, optionally with a document on stdin; never throws for a non-zero exit. */
  run(args: string[], stdin?: string): Promise<KubectlResult>;
  /** Like run, but a non-zero exit is an error carrying kubectl's own message. */
  must(args: string[], stdin?: string): Promise<string>;
  /** `kubectl port-forward TARGET :PORT`: resolves with the local URL once kubectl forwards; close() ends it. */
  forward(target: string, port: number): Promise<{ url: string; close(): void }>;
  /** Ends the long waits (`rollout status`, `wait`) running now, for a deploy interrupted in one; later calls run as usual. */
  interruptRunning(): void;
}

export class KubectlError extends Error {}

export function kubectl(namespace: string, env: NodeJS.ProcessEnv): Kubectl {
  const running = new Set<ChildProcess>();
  const run = (args: string[], stdin?: string) =>
    new Promise<KubectlResult>((resolve) => {
      const child = spawn("kubectl", ["-n", namespace, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
      // Only the long waits: a quick read or write is left to finish, so the state stays whole.
      if (args[0] === "rollout" || args[0] === "wait") running.add(child);
      child.on("exit", () => running.delete(child));
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("error", (error: NodeJS.ErrnoException) =>
        resolve({ code: 127, stdout, stderr: error.code === "ENOENT" ? "kubectl is not on PATH (install kubectl and point it at the cluster)" : error.message }),
      );
      child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
      // A kubectl that exits before reading its stdin (a refused create) closes the pipe: its exit code is the answer, not EPIPE.
      child.stdin.on("error", () => undefined);
      child.stdin.end(stdin ?? "");
    });
  return {
    namespace,
    run,
    interruptRunning() {
      for (const child of running) child.kill("SIGTERM");
    },
    async must(args, stdin) {
      const result = await run(args, stdin);
      if (result.code !== 0) throw new KubectlError(`kubectl ${args.join(" ")}: ${result.stderr.trim() || `exit ${result.code}`}`);
      return result.stdout;
    },
    forward(target, port) {
      return new Promise((resolve, reject) => {
        const child = spawn("kubectl", ["-n", namespace, "port-forward", target, `:${port}`], { env, stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        const timer = setTimeout(() => {
          child.kill();
          reject(new KubectlError(`kubectl port-forward ${target} :${port} did not start forwarding within 30 s`));
        }, 30_000);
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          const local = /Forwarding from (127\.0\.0\.1|\[::1\]):(\d+)/.exec(output);
          if (!local) return;
          clearTimeout(timer);
          resolve({ url: `http://127.0.0.1:${local[2]}`, close: () => void child.kill() });
        });
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
        child.on("exit", () => {
          clearTimeout(timer);
          reject(new KubectlError(`kubectl port-forward ${target} :${port} ended: ${output.trim()}`));
        });
      });
    },
  };
}
