import type { Options } from "@node-rs/argon2";
import { argon2Queue, argon2Threads } from "./argon2-queue.ts";

/** OWASP's argon2id parameters: 19 MiB memory, 2 passes, 1 lane. */
// Algorithm is a const enum that cannot be imported under isolated modules: 2 is Argon2id.
const params = { algorithm: 2 as Options["algorithm"], memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
const currentPrefix = `$argon2id$v=19$m=${params.memoryCost},t=${params.timeCost},p=${params.parallelism}$`;

/** Hashes on a low-priority worker thread (never on the event loop), through the bounded queue, into a PHC string. */
export async function hashPassword(password: string): Promise<string> {
  const phc = await argon2Queue.run(() => argon2Threads.run<string | { failed: true }>({ kind: "hash", password, options: params }));
  if (typeof phc !== "string") throw new Error("argon2: hashing failed");
  return phc;
}

/** True when the password matches; a malformed hash is a mismatch. A full queue is a 503 (thrown). */
export function verifyPassword(phc: string, password: string): Promise<boolean> {
  return argon2Queue.run(() => argon2Threads.run<boolean>({ kind: "verify", phc, password }));
}

/** True when the stored hash was made with other parameters and should be replaced at the next login. */
export function needsRehash(phc: string): boolean {
  return !phc.startsWith(currentPrefix);
}

let dummyHash: Promise<string> | undefined;
/**
 * A hash to verify against when the account does not exist, so both answers take as long. Made once; a failed
 * attempt (the queue full during a burst, a thread that died) is not kept, or every later login for an unknown
 * email would fail the same way while known ones answer 401.
 */
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword("azora-timing-equaliser").catch((error: unknown) => {
    dummyHash = undefined;
    throw error;
  });
  return dummyHash;
}

/**
 * Stored in place of a hash when an operator forces a reset: it is no PHC string, so no password
 * verifies against it (verifyPassword answers false) until the person sets a new one through a reset.
 */
export const RESET_REQUIRED_HASH = "!reset-required";
