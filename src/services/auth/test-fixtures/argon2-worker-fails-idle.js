// A stand-in argon2 thread for argon2-threads.test.ts: it answers one task, then fails with an uncaught error
// while idle, to show the pool survives it (no unhandled 'error' in the main thread) and starts a fresh thread.
import { parentPort } from "node:worker_threads";

parentPort.once("message", () => {
  parentPort.postMessage("answered");
  setTimeout(() => {
    throw new Error("thread failed while idle");
  }, 10);
});
