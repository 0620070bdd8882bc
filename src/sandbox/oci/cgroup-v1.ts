import { readdir, readFile, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ignoreMissing } from "../../system/fs.js";

const ROOT = "/sys/fs/cgroup";

/**
 * The cgroup v1 side of an instance: runc creates `/sys/fs/cgroup/<controller>/<parent>/<instance id>` from
 * config.json's absolute cgroupsPath (a relative one would land under the daemon's own cgroup, which
 * differs per controller on this host) and removes it on `runc delete`. Strata only reads counters here,
 * and removes what a crash left behind.
 */
export class CgroupV1 {
  constructor(
    /** e.g. "strata/runc": one parent per driver, so one driver's sweep never touches another's. */
    private readonly parent: string,
  ) {}

  /** The value for config.json's linux.cgroupsPath. */
  pathFor(instanceId: string): string {
    return `/${this.parent}/${instanceId}`;
  }

  async stats(instanceId: string): Promise<{ cpuMs?: number; memoryBytes?: number; peakMemoryBytes?: number }> {
    const usageNs = await this.readNumber("cpuacct", instanceId, "cpuacct.usage");
    const usage = await this.readNumber("memory", instanceId, "memory.usage_in_bytes");
    const peak = await this.readNumber("memory", instanceId, "memory.max_usage_in_bytes");
    const stat = await this.readKeyed("memory", instanceId, "memory.stat");
    // The working set, as the kubelet reports it: usage minus page cache the kernel can drop at once.
    const inactiveFile = stat.get("total_inactive_file") ?? 0;
    return {
      cpuMs: usageNs === undefined ? undefined : Math.round(usageNs / 1e6),
      memoryBytes: usage === undefined ? undefined : Math.max(0, usage - inactiveFile),
      // The cgroup's high-water mark (page cache included), as Lambda's REPORT "Max Memory Used".
      ...(peak !== undefined && { peakMemoryBytes: peak }),
    };
  }

  /** How many times the OOM killer fired in the instance's memory cgroup (undefined: no cgroup). */
  async oomKills(instanceId: string): Promise<number | undefined> {
    const ctl = await this.readKeyed("memory", instanceId, "memory.oom_control");
    return ctl.size ? (ctl.get("oom_kill") ?? 0) : undefined;
  }

  /** How many forks the pids limit refused (undefined: no cgroup). */
  async pidsLimitHits(instanceId: string): Promise<number | undefined> {
    const events = await this.readKeyed("pids", instanceId, "pids.events");
    return events.size ? (events.get("max") ?? 0) : undefined;
  }

  /** Instance ids with a cgroup under this driver's parent, in any controller. */
  async listIds(): Promise<string[]> {
    const ids = new Set<string>();
    for (const controller of await this.controllers()) {
      for (const e of await readdir(join(ROOT, controller, this.parent), { withFileTypes: true }).catch(ignoreMissing([]))) {
        if (e.isDirectory()) ids.add(e.name);
      }
    }
    return [...ids];
  }

  /**
   * Removes the instance's cgroups (and child cgroups in them) in every controller; idempotent. Processes still in them (a container
   * whose runtime state is lost, e.g. its STRATA_HOME was deleted) are killed first, or rmdir would fail.
   */
  async remove(instanceId: string): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const pids = await procsIn(join(ROOT, "pids", this.parent, instanceId));
      if (pids.length === 0) break;
      for (const pid of pids) killIfThere(pid);
      await sleep(20);
    }
    for (const controller of await this.controllers()) await removeTree(join(ROOT, controller, this.parent, instanceId));
  }

  /**
   * Removes the parent cgroups (`strata/<home tag>/<driver>`, then `strata/<home tag>`) where they are
   * empty; a parent still holding an instance (they outlive the daemon) is left alone.
   */
  async removeParents(): Promise<void> {
    const parts = this.parent.split("/");
    for (let n = parts.length; n > 1; n--) {
      for (const controller of await this.controllers()) {
        await rmdir(join(ROOT, controller, ...parts.slice(0, n))).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "ENOENT" && err.code !== "EBUSY" && err.code !== "ENOTEMPTY") throw err; // in use: kept
        });
      }
    }
  }

  async exists(instanceId: string): Promise<boolean> {
    return (await this.listIds()).includes(instanceId);
  }

  private async controllers(): Promise<string[]> {
    return (await readdir(ROOT, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  }

  private async readNumber(controller: string, instanceId: string, file: string): Promise<number | undefined> {
    const text = await readFile(join(ROOT, controller, this.parent, instanceId, file), "utf8").catch(ignoreMissing(null));
    return text === null ? undefined : Number(text.trim());
  }

  private async readKeyed(controller: string, instanceId: string, file: string): Promise<Map<string, number>> {
    const text = await readFile(join(ROOT, controller, this.parent, instanceId, file), "utf8").catch(ignoreMissing(""));
    const out = new Map<string, number>();
    for (const line of text.split("\n")) {
      const [k, v] = line.split(" ");
      if (k && v !== undefined) out.set(k, Number(v));
    }
    return out;
  }
}

/** The processes in a cgroup and in the child cgroups a runtime made inside it. */
async function procsIn(dir: string): Promise<number[]> {
  const pids = (await readFile(join(dir, "cgroup.procs"), "utf8").catch(ignoreMissing(""))).split("\n").filter(Boolean).map(Number);
  for (const e of await readdir(dir, { withFileTypes: true }).catch(ignoreMissing([]))) {
    if (e.isDirectory()) pids.push(...(await procsIn(join(dir, e.name))));
  }
  return pids;
}

/**
 * Removes a cgroup and the child cgroups a runtime made inside it (LXC's `lxc.pivot`), deepest first. A
 * cgroup stays busy while a task in it is still exiting, or when a task sits in this controller's tree
 * but not where the pids controller showed it: such tasks are killed and the rmdir tried again, for up to
 * REMOVE_BUSY_MS.
 */
async function removeTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(ignoreMissing([]))) {
    if (e.isDirectory()) await removeTree(join(dir, e.name));
  }
  const deadline = Date.now() + REMOVE_BUSY_MS;
  for (;;) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > deadline) throw err;
    }
    for (const pid of await procsIn(dir)) killIfThere(pid);
    await sleep(20);
  }
}

const REMOVE_BUSY_MS = 2000;

function killIfThere(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err; // already gone is what we want
  }
}
