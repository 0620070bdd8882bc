import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

const ROOT = "/sys/fs/cgroup";
const CPU_PERIOD_US = 100_000;

/**
 * Puts a VMM process into cgroup v1 groups of its own (`<controller>/<parent>/<instance id>`): cpu with the
 * instance's quota (the vCPUs cannot take more than the class's share of the host), cpuacct and memory for
 * accounting (the guest's RAM is its memory limit). oci/cgroup-v1.ts reads and removes them.
 */
export async function placeVmm(parent: string, instanceId: string, pid: number, cpuMillis: number): Promise<void> {
  for (const controller of ["cpu", "cpuacct", "memory", "pids"]) {
    const dir = join(ROOT, controller, parent, instanceId);
    await mkdir(dir, { recursive: true });
    if (controller === "cpu" && cpuMillis > 0) {
      await writeFile(join(dir, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
      await writeFile(join(dir, "cpu.cfs_quota_us"), String(Math.round((cpuMillis * CPU_PERIOD_US) / 1000)));
    }
    await writeFile(join(dir, "cgroup.procs"), String(pid));
  }
}
