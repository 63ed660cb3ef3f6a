import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hashingThreadCount } from "../services/auth/argon2-queue.ts";
import { cgroupCpuQuota, usableCores, type CgroupPaths } from "./cpu-quota.ts";

/**
 * The kernel's cgroup files as a container sees them, written into a directory of the test's own (the test cannot
 * give itself a CPU quota): v2's cpu.max, v1's cfs quota and period, and /proc/self/cgroup's membership lines.
 */
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function cgroupTree(membership: string, files: Record<string, string>): CgroupPaths {
  const base = mkdtempSync(join(tmpdir(), "azora-cgroup-"));
  dirs.push(base);
  const root = join(base, "sys-fs-cgroup");
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  mkdirSync(root, { recursive: true });
  writeFileSync(join(base, "cgroup"), membership);
  return { root, membership: join(base, "cgroup") };
}

describe("CPU quota of the process's cgroup", () => {
  it("cgroup v2 in a namespaced container: cpu.max at the root (limits.cpu: 1)", () => {
    const paths = cgroupTree("0::/\n", { "cpu.max": "100000 100000\n" });
    expect(cgroupCpuQuota(paths)).toBe(1);
    // 16 CPUs visible, one core's quota: one usable core, so one hashing thread (not 15).
    expect(usableCores(paths, 16)).toBe(1);
    expect(hashingThreadCount(usableCores(paths, 16))).toBe(1);
  });

  it("cgroup v2 without a quota ('max') leaves the CPU count", () => {
    const paths = cgroupTree("0::/\n", { "cpu.max": "max 100000\n" });
    expect(cgroupCpuQuota(paths)).toBeUndefined();
    expect(usableCores(paths, 8)).toBe(8);
  });

  it("cgroup v2, not namespaced: the smallest quota along the process's cgroup and its parents, rounded down", () => {
    const paths = cgroupTree("0::/kubepods.slice/pod1/container1\n", {
      "cpu.max": "max 100000\n",
      "kubepods.slice/cpu.max": "800000 100000\n",
      "kubepods.slice/pod1/cpu.max": "250000 100000\n",
      "kubepods.slice/pod1/container1/cpu.max": "max 100000\n",
    });
    expect(cgroupCpuQuota(paths)).toBe(2.5);
    expect(usableCores(paths, 16)).toBe(2);
    expect(hashingThreadCount(usableCores(paths, 16))).toBe(1);
  });

  it("cgroup v1: cfs quota over period in the cpu controller's hierarchy; -1 is no quota", () => {
    const limited = cgroupTree("12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n", {
      "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "300000\n",
      "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
    });
    expect(cgroupCpuQuota(limited)).toBe(3);
    expect(usableCores(limited, 16)).toBe(3);
    const unlimited = cgroupTree("12:cpu,cpuacct:/\n", { "cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n" });
    expect(cgroupCpuQuota(unlimited)).toBeUndefined();
  });

  it("a quota under one core still leaves one; more quota than CPUs leaves the CPUs; no cgroup files leave the CPUs", () => {
    expect(usableCores(cgroupTree("0::/\n", { "cpu.max": "50000 100000\n" }), 4)).toBe(1);
    expect(usableCores(cgroupTree("0::/\n", { "cpu.max": "800000 100000\n" }), 2)).toBe(2);
    expect(usableCores({ root: "/nonexistent-cgroup", membership: "/nonexistent-cgroup/self" }, 4)).toBe(4);
  });

  it("hashing threads: every usable core but one, at least one; PASSWORD_HASH_THREADS replaces the rule", () => {
    const noQuota = { root: "/nonexistent-cgroup", membership: "/nonexistent-cgroup/self" };
    const quota = (cpuMax: string) => cgroupTree("0::/\n", { "cpu.max": `${cpuMax}\n` });
    // [what the process sees, CPUs it may run on, threads by the rule]
    const cases: [CgroupPaths, number, number][] = [
      [noQuota, 1, 1], // one core: the floor; the thread shares it with the event loop at a lower priority
      [noQuota, 2, 1], // this project's 2-core machine: one core hashes, one is the event loop's
      [noQuota, 4, 3],
      [noQuota, 64, 63],
      [quota("100000 100000"), 16, 1], // limits.cpu: 1 on a 16-core node
      [quota("150000 100000"), 16, 1], // 1.5 cores round down to 1
      [quota("200000 100000"), 16, 1], // limits.cpu: 2
      [quota("400000 100000"), 16, 3],
      [quota("800000 100000"), 4, 3], // more quota than CPUs: the CPUs decide
    ];
    for (const [paths, cpus, threads] of cases) expect(hashingThreadCount(usableCores(paths, cpus)), `${cpus} CPUs`).toBe(threads);
    // The setting is taken as it is, above or below the rule (an operator trading latency for login throughput).
    expect(hashingThreadCount(usableCores(noQuota, 2), 2)).toBe(2);
    expect(hashingThreadCount(usableCores(quota("400000 100000"), 16), 1)).toBe(1);
    expect(hashingThreadCount(usableCores(noQuota, 1), 4)).toBe(4);
  });

  it("reads this machine's cgroup without failing", () => {
    expect(usableCores()).toBeGreaterThanOrEqual(1);
  });
});
