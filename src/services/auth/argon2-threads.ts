import { Worker } from "node:worker_threads";
import type { Options } from "@node-rs/argon2";

type Task = { kind: "hash"; password: string; options: Options } | { kind: "verify"; phc: string; password: string };

const defaultScript = new URL("./argon2-worker.js", import.meta.url);

/**
 * Worker threads that run argon2 at a lowered priority (see argon2-worker.js), one task at a time each.
 * The caller bounds concurrency (argon2-queue.ts) to at most `size` tasks, so an idle thread always exists.
 * `script` is the thread's code: the worker above unless a test gives one that dies on purpose.
 */
export function createArgon2Threads(size: number | (() => number), niceness = 10, script: URL = defaultScript) {
  const idle: Worker[] = [];
  /** The task each busy thread owes an answer to: told when the thread dies instead. */
  const owed = new Map<Worker, (reason: unknown) => void>();
  let started = 0;

  const startThread = () => {
    const worker = new Worker(script, { workerData: { niceness } });
    // Idle hashing threads must never keep the process alive (a thread with a task in flight does).
    worker.unref();
    started++;
    // Watched for its whole life, not only while it has a task: a thread that dies while idle must leave the
    // idle list (or the next task would wait forever on it, holding a queue slot), and an 'error' with no
    // listener would be thrown in the main thread. 'error' is followed by 'exit': count the death once.
    let dead = false;
    const onDeath = (reason: unknown) => {
      if (dead) return;
      dead = true;
      started--;
      const at = idle.indexOf(worker);
      if (at >= 0) idle.splice(at, 1);
      const fail = owed.get(worker);
      owed.delete(worker);
      fail?.(reason);
    };
    worker.on("error", onDeath);
    worker.on("exit", onDeath);
    return worker;
  };

  const take = () => idle.pop() ?? (started < (typeof size === "number" ? size : size()) ? startThread() : undefined);

  return {
    run<T>(task: Task): Promise<T> {
      const worker = take();
      if (!worker) return Promise.reject(new Error("argon2: more tasks than threads (the queue bounds them)"));
      return new Promise<T>((resolve, reject) => {
        const onMessage = (result: T) => {
          owed.delete(worker);
          idle.push(worker);
          resolve(result);
        };
        // A thread that died is not reused: the next task starts a fresh one.
        owed.set(worker, (reason) => {
          worker.off("message", onMessage);
          reject(reason instanceof Error ? reason : new Error(`argon2 thread exited (code ${String(reason)})`));
        });
        worker.once("message", onMessage);
        worker.postMessage(task);
      });
    },
    /** Threads started and not dead (idle or busy). */
    size: () => started,
  };
}
