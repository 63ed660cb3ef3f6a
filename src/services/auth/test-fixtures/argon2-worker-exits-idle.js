// A stand-in argon2 thread for argon2-threads.test.ts: it answers one task, then exits while idle (as a thread
// can), to show the pool does not hand the next task to a dead thread.
import { parentPort } from "node:worker_threads";

parentPort.once("message", () => {
  parentPort.postMessage("answered");
  setTimeout(() => process.exit(3), 10);
});
