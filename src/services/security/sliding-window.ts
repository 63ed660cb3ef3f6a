/**
 * Slides a time window over events sorted by time and returns the largest window (first and last index)
 * in which `satisfied()` holds, or undefined. `add` and `remove` keep the caller's counters for the
 * events inside the window, so one pass costs O(n) whatever the window.
 */
export function busiestWindow<E extends { at: number }>(
  events: readonly E[],
  windowMs: number,
  counters: { add(event: E): void; remove(event: E): void; satisfied(): boolean },
): { first: number; last: number } | undefined {
  let best: { first: number; last: number } | undefined;
  let left = 0;
  for (let right = 0; right < events.length; right++) {
    counters.add(events[right]!);
    while (events[right]!.at - events[left]!.at >= windowMs) counters.remove(events[left++]!);
    if (counters.satisfied() && (!best || right - left > best.last - best.first)) best = { first: left, last: right };
  }
  return best;
}

/** A multiset of strings: how many times each was added and not yet removed. */
export class Tally {
  private readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  remove(key: string): void {
    const left = (this.counts.get(key) ?? 0) - 1;
    if (left <= 0) this.counts.delete(key);
    else this.counts.set(key, left);
  }
  get distinct(): number {
    return this.counts.size;
  }
}

/** Groups items by a key, keeping their order. */
export function groupBy<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const name = key(item);
    if (name === undefined) continue;
    let group = groups.get(name);
    if (!group) groups.set(name, (group = []));
    group.push(item);
  }
  return groups;
}
