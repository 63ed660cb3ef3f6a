/**
 * Runs `work` every `intervalMs`, each run starting that long after the previous one ended (never two at
 * once, however slow the database answers), on an unref'd timer: a watcher never keeps a process alive.
 * Returns the function that stops it; a run in progress finishes, and no other starts.
 */
export function repeatAfter(intervalMs: number, work: () => Promise<void>): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const loop = () => {
    timer = setTimeout(() => void work().finally(() => stopped || loop()), intervalMs);
    timer.unref();
  };
  loop();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
