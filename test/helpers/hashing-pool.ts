import { argon2Queue } from "../../src/services/auth/argon2-queue.ts";

/**
 * How many of `tasks` held-open tasks this process's argon2 queue runs at once (the rest wait); then lets them
 * all end. The queue's size is the hashing pool's (PASSWORD_HASH_THREADS or the rule).
 */
export async function hashesAtOnce(tasks: number): Promise<{ running: number; waiting: number }> {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const all = Array.from({ length: tasks }, () => argon2Queue.run(() => held));
  const { running, waiting } = argon2Queue.depth();
  release();
  await Promise.all(all);
  return { running, waiting };
}
