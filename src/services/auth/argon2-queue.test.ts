import { describe, expect, it } from "vitest";
import { AppError } from "../../platform/errors.ts";
import { usableCores } from "../../platform/cpu-quota.ts";
import { hashesAtOnce } from "../../../test/helpers/hashing-pool.ts";
import { createWorkQueue, hashingThreadCount, sizeHashingPool } from "./argon2-queue.ts";

describe("argon2 work queue", () => {
  it("runs at most `concurrency` tasks at once and the rest in order", async () => {
    const queue = createWorkQueue(2, 10);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const task = (id: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(id);
      running--;
      return id;
    };
    expect(await Promise.all([1, 2, 3, 4, 5].map((id) => queue.run(task(id))))).toEqual([1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
    expect(queue.depth()).toEqual({ running: 0, waiting: 0 });
  });

  it("hands a finished task's slot to the first waiter, not to a caller arriving in between", async () => {
    const queue = createWorkQueue(1, 10);
    let running = 0;
    let peak = 0;
    const task = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
    };
    let finishFirst: () => void = () => undefined;
    const first = queue.run(() => new Promise<void>((resolve) => (finishFirst = resolve)));
    const waiter = queue.run(task);
    finishFirst();
    // A caller arriving one microtask later comes right after the first task's slot is released and
    // before the waiter has resumed: it must queue behind the waiter, not run beside it.
    const latecomer = Promise.resolve().then(() => queue.run(task));
    await first;
    await Promise.all([waiter, latecomer]);
    expect(peak).toBe(1);
    expect(queue.depth()).toEqual({ running: 0, waiting: 0 });
  });

  it("refuses work beyond the bound with 503 service_unavailable and Retry-After, and keeps serving", async () => {
    const queue = createWorkQueue(1, 2);
    let release: () => void = () => undefined;
    const blocker = queue.run(() => new Promise<void>((resolve) => (release = resolve)));
    const queued = [queue.run(async () => 1), queue.run(async () => 2)];
    const refused = await queue.run(async () => 3).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).status).toBe(503);
    expect((refused as AppError).headers?.["retry-after"]).toBe("1");
    release();
    await blocker;
    expect(await Promise.all(queued)).toEqual([1, 2]);
    // A task that throws frees its slot.
    await expect(queue.run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await queue.run(async () => 4)).toBe(4);
  });

  it("the process's queue runs as many at once as the pool is sized for: the rule by default, the setting when given", async () => {
    const runningAtOnce = async (tasks: number) => {
      const { running, waiting } = await hashesAtOnce(tasks);
      expect(running + waiting).toBe(tasks);
      return running;
    };
    const cores = usableCores();
    sizeHashingPool(undefined);
    expect(await runningAtOnce(cores + 3)).toBe(hashingThreadCount(cores));
    // A setting above the rule (on this 2-core machine the rule gives 1): the next tasks run that many at once.
    sizeHashingPool(cores + 1);
    expect(await runningAtOnce(cores + 3)).toBe(cores + 1);
    sizeHashingPool(1);
    expect(await runningAtOnce(cores + 3)).toBe(1);
    sizeHashingPool(undefined);
  });
});
