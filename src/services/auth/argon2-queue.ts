import { usableCores } from "../../platform/cpu-quota.ts";
import { AppError } from "../../platform/errors.ts";
import { createArgon2Threads } from "./argon2-threads.ts";

/**
 * A bounded queue in front of argon2. Hashes run off the event loop, but 4 memory-hard hashes at once on a
 * 2-core machine leave the event loop no CPU: health probes and every other request then wait behind
 * logins. So at most (cores − 1) hashes run at once, on threads of lowered priority (argon2-threads.ts),
 * leaving a core to the event loop, and a burst beyond the queue's bound is refused with 503 + Retry-After
 * instead of piling up.
 */
export function createWorkQueue(concurrency: number | (() => number), maxQueued: number) {
  // Read at the first task, not at import (a function reads the cgroup's files: no I/O at import time).
  let limit: number | undefined;
  let running = 0;
  const waiting: (() => void)[] = [];
  // A finished task hands its slot straight to the first waiter (running stays the same): were the slot
  // freed first, a caller arriving before the waiter resumes could take it too, one task too many.
  const release = () => {
    const handTo = waiting.shift();
    if (handTo) handTo();
    else running--;
  };
  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      limit ??= typeof concurrency === "number" ? concurrency : concurrency();
      if (running < limit) running++;
      else if (waiting.length >= maxQueued) {
        throw new AppError("service_unavailable", "Too many sign-ins at once; try again shortly.", { headers: { "retry-after": "1" } });
      } else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await task();
      } finally {
        release();
      }
    },
    depth: () => ({ running, waiting: waiting.length }),
  };
}

/** Hashes at once: every usable core but one (the event loop's), counting a container's CPU quota; at least one. */
export function hashingThreadCount(cores: number): number {
  return Math.max(1, cores - 1);
}

let threadCount: number | undefined;
const hashingThreads = () => (threadCount ??= hashingThreadCount(usableCores()));

/** The queue every argon2 hash and verification of this process goes through. */
export const argon2Queue = createWorkQueue(hashingThreads, 1_000);

/** The threads that queue feeds: as many as it lets run at once. */
export const argon2Threads = createArgon2Threads(hashingThreads);
