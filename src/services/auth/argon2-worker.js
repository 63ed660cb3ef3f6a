// One argon2 hashing thread (plain JavaScript: a worker thread is started outside the TypeScript loader).
//
// It lowers its own scheduling priority before the first hash: on Linux, setpriority() on a thread id changes
// that thread only. A memory-hard hash then yields the CPU to the event loop whenever both want it, so health
// probes and ordinary requests are not delayed behind logins; the hashes take the CPU the event loop leaves.
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { hashSync, verifySync } from "@node-rs/argon2";

try {
  // /proc/thread-self links to /proc/<pid>/task/<tid>.
  const threadId = Number(readlinkSync("/proc/thread-self").split("/").pop());
  if (Number.isInteger(threadId) && threadId > 0) setPriority(threadId, workerData.niceness);
} catch {
  // No /proc (not Linux) or not permitted: hash at normal priority.
}

parentPort.on("message", (task) => {
  let result;
  try {
    result = task.kind === "hash" ? hashSync(task.password, task.options) : verifySync(task.phc, task.password);
  } catch {
    // A malformed stored hash is a mismatch; a failed hash is reported without its input.
    result = task.kind === "hash" ? { failed: true } : false;
  }
  parentPort.postMessage(result);
});
