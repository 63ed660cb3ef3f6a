import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";

/** Where the kernel tells a process its cgroups (tests point these at a directory of their own). */
export interface CgroupPaths {
  /** The cgroup file system's mount point. */
  root: string;
  /** This process's cgroup membership (`/proc/self/cgroup`). */
  membership: string;
}

const SYSTEM: CgroupPaths = { root: "/sys/fs/cgroup", membership: "/proc/self/cgroup" };

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

/** A directory and every parent of it up to (and with) `root`: a parent's quota bounds its children too. */
function selfAndParents(root: string, cgroupPath: string): string[] {
  const parts = cgroupPath.split("/").filter(Boolean);
  const dirs = [];
  for (let depth = parts.length; depth >= 0; depth--) dirs.push(join(root, ...parts.slice(0, depth)));
  return dirs;
}

/** cgroup v2: `cpu.max` holds "QUOTA PERIOD" or "max PERIOD". */
function quotaV2(dir: string): number | undefined {
  const [quota, period] = (readText(join(dir, "cpu.max")) ?? "").trim().split(/\s+/);
  if (!quota || quota === "max" || !period) return undefined;
  const cores = Number(quota) / Number(period);
  return Number.isFinite(cores) && cores > 0 ? cores : undefined;
}

/** cgroup v1: `cpu.cfs_quota_us` (-1: none) over `cpu.cfs_period_us`. */
function quotaV1(dir: string): number | undefined {
  const quota = Number((readText(join(dir, "cpu.cfs_quota_us")) ?? "").trim());
  const period = Number((readText(join(dir, "cpu.cfs_period_us")) ?? "").trim());
  if (!(quota > 0) || !(period > 0)) return undefined;
  return quota / period;
}

/**
 * The CPU quota of this process's cgroup in cores (1.5 = a container's `limits.cpu: 1500m`), the smallest along
 * its cgroup and their parents; undefined when there is none. Node 20's os.availableParallelism() counts the CPUs
 * the process may run on and ignores the quota: in a container limited to one core on a 16-core node it says 16.
 * A container whose cgroup is not namespaced sees its own cgroup at the mount point's root, which is read too.
 */
export function cgroupCpuQuota(paths: CgroupPaths = SYSTEM): number | undefined {
  const quotas: number[] = [];
  for (const line of (readText(paths.membership) ?? "").split("\n")) {
    const [, controllers, cgroupPath] = /^\d+:([^:]*):(.*)$/.exec(line.trim()) ?? [];
    if (controllers === undefined || cgroupPath === undefined) continue;
    if (controllers === "") {
      for (const dir of selfAndParents(paths.root, cgroupPath)) quotas.push(quotaV2(dir) ?? Number.POSITIVE_INFINITY);
    } else if (controllers.split(",").includes("cpu")) {
      const mount = join(paths.root, controllers);
      for (const dir of selfAndParents(mount, cgroupPath)) quotas.push(quotaV1(dir) ?? Number.POSITIVE_INFINITY);
    }
  }
  const smallest = Math.min(...quotas);
  return Number.isFinite(smallest) ? smallest : undefined;
}

/**
 * Cores this process may keep busy: the CPUs it may run on, capped by its cgroup's quota rounded down (a quota of
 * 1.5 cores gives 1; never less than 1), as Go's automaxprocs does.
 */
export function usableCores(paths: CgroupPaths = SYSTEM, cpus = availableParallelism()): number {
  const quota = cgroupCpuQuota(paths);
  return Math.max(1, Math.min(cpus, quota === undefined ? cpus : Math.floor(quota)));
}
