import { spawnSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";

/**
 * How much CPU other processes used while a run was measured (Linux /proc): a test suite or a build running
 * at the same time skews every figure, and this says so next to the figure instead of leaving it to guesswork.
 */
interface ProcessTicks {
  ppid: number;
  comm: string;
  ticks: number;
}

export type CpuSnapshot = Map<number, ProcessTicks>;

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const result = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    const value = Number(result.stdout?.trim());
    clockTicks = Number.isFinite(value) && value > 0 ? value : 100;
  }
  return clockTicks;
}

/** utime + stime of every process now; empty where /proc is not available. */
export async function cpuSnapshot(): Promise<CpuSnapshot> {
  const snapshot: CpuSnapshot = new Map();
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return snapshot;
  }
  await Promise.all(
    entries
      .filter((name) => /^\d+$/.test(name))
      .map(async (name) => {
        try {
          const stat = await readFile(`/proc/${name}/stat`, "utf8");
          const close = stat.lastIndexOf(")");
          const comm = stat.slice(stat.indexOf("(") + 1, close);
          // Fields after "(comm)": state ppid … utime (14th field of the file) stime (15th).
          const rest = stat.slice(close + 2).split(" ");
          snapshot.set(Number(name), { ppid: Number(rest[1]), comm, ticks: Number(rest[11]) + Number(rest[12]) });
        } catch {
          // The process ended meanwhile.
        }
      }),
  );
  return snapshot;
}

export interface ForeignCpu {
  /** CPU used by processes outside this benchmark's process tree, in cores (1 = one core fully busy). */
  cores: number;
  /** The biggest users, by command name. */
  top: { comm: string; cores: number }[];
}

/** CPU used between two snapshots by every process other than this one, its descendants and its ancestors. */
export function foreignCpu(before: CpuSnapshot, after: CpuSnapshot, seconds: number, rootPid = process.pid): ForeignCpu {
  const ours = (pid: number): boolean => {
    for (let current = pid, hops = 0; current > 1 && hops < 64; hops++) {
      if (current === rootPid) return true;
      current = after.get(current)?.ppid ?? before.get(current)?.ppid ?? 0;
    }
    return false;
  };
  // The processes that started this one (npm, a shell) are not foreign either.
  const ancestors = new Set<number>();
  for (let current = after.get(rootPid)?.ppid ?? 0, hops = 0; current > 1 && hops < 64; hops++) {
    ancestors.add(current);
    current = after.get(current)?.ppid ?? 0;
  }
  const byComm = new Map<string, number>();
  for (const [pid, now] of after) {
    if (ours(pid) || ancestors.has(pid)) continue;
    // A process started during the window counts in full.
    const delta = now.ticks - (before.get(pid)?.ticks ?? 0);
    if (delta > 0) byComm.set(now.comm, (byComm.get(now.comm) ?? 0) + delta);
  }
  const scale = 1 / (ticksPerSecond() * Math.max(seconds, 0.001));
  const top = [...byComm]
    .map(([comm, ticks]) => ({ comm, cores: ticks * scale }))
    .sort((a, b) => b.cores - a.cores)
    .slice(0, 3);
  const cores = [...byComm.values()].reduce((sum, ticks) => sum + ticks, 0) * scale;
  return { cores, top };
}

/**
 * CPU seconds the servers under test used between two snapshots: every process of this benchmark's tree
 * except this one and the load generator (wrk). On a shared machine req/s follows the share of the core the
 * servers get; CPU time per request does not, so ratios of it stay readable when the machine is busy.
 */
export function serverCpuSeconds(before: CpuSnapshot, after: CpuSnapshot, rootPid = process.pid): number {
  const ours = (pid: number): boolean => {
    for (let current = after.get(pid)?.ppid ?? 0, hops = 0; current > 1 && hops < 64; hops++) {
      if (current === rootPid) return true;
      current = after.get(current)?.ppid ?? before.get(current)?.ppid ?? 0;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, now] of after) {
    if (pid === rootPid || now.comm === "wrk" || !ours(pid)) continue;
    ticks += Math.max(0, now.ticks - (before.get(pid)?.ticks ?? now.ticks));
  }
  return ticks / ticksPerSecond();
}
