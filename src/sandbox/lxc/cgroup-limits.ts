import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { InstanceLimits } from "../driver.js";

const ROOT = "/sys/fs/cgroup";
const CPU_PERIOD_US = 100_000;

/**
 * Makes an instance's own cgroup v1 (`<path>` in the memory, cpu and pids hierarchies) with its limits.
 * LXC puts the container in a child of it (lxc.cgroup.dir.container) and removes that child when the
 * container ends, taking its counters along; the limits sit here instead, so the OOM-kill and pids-limit
 * counters the exit reason is read from outlive the container until the driver's clean-up.
 */
export async function makeLimitedCgroup(path: string, limits: InstanceLimits): Promise<void> {
  const set = async (controller: string, file: string, value: number) => {
    await mkdir(join(ROOT, controller, path), { recursive: true });
    await writeFile(join(ROOT, controller, path, file), String(value));
  };
  await mkdir(join(ROOT, "memory", path), { recursive: true });
  if (limits.memoryMb > 0) {
    const bytes = limits.memoryMb * 1024 * 1024;
    await set("memory", "memory.limit_in_bytes", bytes);
    await set("memory", "memory.memsw.limit_in_bytes", bytes); // no swap on top (set after the limit it must not undercut)
  }
  await mkdir(join(ROOT, "cpu", path), { recursive: true });
  if (limits.cpuMillis > 0) {
    await set("cpu", "cpu.shares", Math.max(2, Math.round((limits.cpuMillis * 1024) / 1000)));
    await set("cpu", "cpu.cfs_period_us", CPU_PERIOD_US);
    await set("cpu", "cpu.cfs_quota_us", Math.round((limits.cpuMillis * CPU_PERIOD_US) / 1000));
  }
  await mkdir(join(ROOT, "pids", path), { recursive: true });
  if (limits.pids > 0) await set("pids", "pids.max", limits.pids);
}

/**
 * What the instance's own cgroup says of how it ended. On this kernel line the OOM-kill count
 * (memory.oom_control) and the refused forks (pids.events) are counted in the task's own cgroup, the
 * child LXC removes; what stays here is that usage reached the memory limit (the peak, memory.max_usage_in_bytes, or memory plus swap's) and how many
 * tasks there were at most (pids.peak, where the kernel has it).
 */
export async function limitsHit(path: string): Promise<{ memory: boolean; pids: boolean }> {
  const read = async (controller: string, file: string) => {
    const text = await readFile(join(ROOT, controller, path, file), "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
    return text === null ? undefined : text.trim();
  };
  const atLimit = async (usage: string, limit: string) => {
    const [u, l] = [await read("memory", usage), await read("memory", limit)];
    return u !== undefined && l !== undefined && Number(u) >= Number(l);
  };
  const memory = (await atLimit("memory.max_usage_in_bytes", "memory.limit_in_bytes")) || (await atLimit("memory.memsw.max_usage_in_bytes", "memory.memsw.limit_in_bytes"));
  const max = await read("pids", "pids.max");
  const peak = await read("pids", "pids.peak");
  return { memory, pids: max !== undefined && max !== "max" && peak !== undefined && Number(peak) >= Number(max) };
}
