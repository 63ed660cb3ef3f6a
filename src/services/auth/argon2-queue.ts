import { usableCores } from "../../platform/cpu-quota.ts";
import { AppError } from "../../platform/errors.ts";
import { createArgon2Threads } from "./argon2-threads.ts";

/**
 * A bounded queue in front of argon2. Hashes run off the event loop, but 4 memory-hard hashes at once on a
 * 2-core machine leave the event loop no CPU: health probes and every other request then wait behind
 * logins. So at most hashingThreadCount() hashes run at once (cores − 1 unless PASSWORD_HASH_THREADS says
 * otherwise), on threads of lowered priority (argon2-threads.ts), leaving a core to the event loop, and a burst
 * beyond the queue's bound is refused with 503 + Retry-After instead of piling up.
 */
export function createWorkQueue(concurrency: number | (() => number), maxQueued: number) {
  // A function is asked at each task, not at import (it reads the cgroup's files once: no I/O at import time), so
  // a pool sized by the composition root after this module loaded takes effect from the next task.
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
      const limit = typeof concurrency === "number" ? concurrency : concurrency();
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

/**
 * Hashes at once: `setting` (PASSWORD_HASH_THREADS) when given; otherwise every usable core but one, counting a
 * container's CPU quota, and at least one. The core left over is the event loop's: with every core hashing, a
 * health probe or a request waits for a core behind the logins (docs/adr/0500 has the measured trade).
 */
export function hashingThreadCount(cores: number, setting?: number): number {
  return setting ?? Math.max(1, cores - 1);
}

let cores: number | undefined;
let threadsSetting: number | undefined;
/** The cgroup's files are read once, at the first hash; the setting may come later (sizeHashingPool). */
const hashingThreads = () => hashingThreadCount((cores ??= usableCores()), threadsSetting);

/**
 * Sizes this process's hashing pool: `threads` from the config (PASSWORD_HASH_THREADS), undefined for the rule
 * above. One pool per process, because the cores are the process's, whichever services it composes: the
 * composition root calls this before it serves; a later call applies from the next hash.
 */
export function sizeHashingPool(threads: number | undefined): void {
  threadsSetting = threads;
}

/** The queue every argon2 hash and verification of this process goes through. */
export const argon2Queue = createWorkQueue(hashingThreads, 1_000);

/** The threads that queue feeds: as many as it lets run at once. */
export const argon2Threads = createArgon2Threads(hashingThreads);
