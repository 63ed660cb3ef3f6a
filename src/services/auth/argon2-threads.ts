import { Worker } from "node:worker_threads";
import type { Options } from "@node-rs/argon2";

type Task = { kind: "hash"; password: string; options: Options } | { kind: "verify"; phc: string; password: string };

/**
 * Worker threads that run argon2 at a lowered priority (see argon2-worker.js), one task at a time each.
 * The caller bounds concurrency (argon2-queue.ts) to at most `size` tasks, so an idle thread always exists.
 */
export function createArgon2Threads(size: number, niceness = 10) {
  const idle: Worker[] = [];
  let started = 0;

  const startThread = () => {
    const worker = new Worker(new URL("./argon2-worker.js", import.meta.url), { workerData: { niceness } });
    // Idle hashing threads must never keep the process alive.
    worker.unref();
    started++;
    return worker;
  };

  const take = () => idle.pop() ?? (started < size ? startThread() : undefined);

  return {
    run<T>(task: Task): Promise<T> {
      const worker = take();
      if (!worker) return Promise.reject(new Error("argon2: more tasks than threads (the queue bounds them)"));
      return new Promise<T>((resolve, reject) => {
        const settle = () => {
          worker.off("message", onMessage);
          worker.off("error", onDeath);
          worker.off("exit", onDeath);
        };
        const onMessage = (result: T) => {
          settle();
          idle.push(worker);
          resolve(result);
        };
        // A thread that died is not reused: the next task starts a fresh one.
        const onDeath = (reason: unknown) => {
          settle();
          started--;
          reject(reason instanceof Error ? reason : new Error(`argon2 thread exited (code ${String(reason)})`));
        };
        worker.once("message", onMessage);
        worker.once("error", onDeath);
        worker.once("exit", onDeath);
        worker.postMessage(task);
      });
    },
  };
}
