/** A piece of housekeeping run every intervalMs. */
export interface ScheduledJob {
  name: string;
  intervalMs: number;
  run(): Promise<void>;
}

export interface Scheduler {
  /** Stops scheduling and waits for runs in progress, so the database is still open for them. */
  stop(): Promise<void>;
}

/**
 * Runs each job every intervalMs, the first time one interval after start. A run never overlaps the
 * previous one (the next is scheduled when it ends); a failed run is reported and the schedule goes on.
 */
export function startScheduler(jobs: ScheduledJob[], onError: (job: ScheduledJob, error: unknown) => void): Scheduler {
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  const schedule = (job: ScheduledJob) => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const run = job
        .run()
        .catch((error: unknown) => onError(job, error))
        .finally(() => {
          running.delete(run);
          schedule(job);
        });
      running.add(run);
    }, job.intervalMs);
    // Housekeeping never keeps a process alive on its own.
    timer.unref();
    timers.add(timer);
  };
  jobs.forEach(schedule);
  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all([...running]);
    },
  };
}
