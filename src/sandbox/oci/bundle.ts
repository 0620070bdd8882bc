import type { InstanceLimits } from "../driver.js";
import { seccompProfile, type SeccompProfile } from "./seccomp.js";

/** Container ids 0..size-1 appear on the host as hostId..hostId+size-1. */
export interface IdMap {
  readonly hostId: number;
  readonly size: number;
}

export interface ProcessPlan {
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
}

export interface BundlePlan {
  readonly instanceId: string;
  readonly rootfs: string;
  readonly netnsPath: string;
  /** A hosts file for the instance (localhost and its own name), bind-mounted read-only at /etc/hosts. */
  readonly hostsFile: string;
  readonly cgroupsPath: string;
  /**
   * Host ids of the container's ids, in a user namespace of its own. Absent: no user namespace, for a
   * runtime that isolates with a kernel of its own (runsc refuses to boot with one, see gvisor/).
   */
  readonly idMap?: IdMap;
  readonly limits: InstanceLimits;
  readonly process: ProcessPlan;
}

/**
 * The few capabilities kept (everything else is dropped), all of them scoped to the instance's own user
 * namespace: CHOWN/DAC_OVERRIDE/FOWNER so a root entrypoint can prepare files it owns in /tmp,
 * SETUID/SETGID/KILL for servers that drop to a worker user and signal their workers, NET_BIND_SERVICE
 * for apps told to listen below 1024.
 */
export const KEPT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_SETUID",
  "CAP_SETGID",
  "CAP_KILL",
  "CAP_NET_BIND_SERVICE",
] as const;

const CPU_PERIOD_US = 100_000;

/** OCI runtime-spec 1.0 config.json for one instance; everything is decided here, nothing by runc defaults. */
export function runtimeConfig(plan: BundlePlan): Record<string, unknown> {
  const { limits } = plan;
  const memoryBytes = limits.memoryMb * 1024 * 1024;
  const resources: Record<string, unknown> = {
    devices: [{ allow: false, access: "rwm" }], // runc adds the standard null/zero/random/tty set
    memory: memoryBytes > 0 ? { limit: memoryBytes, swap: memoryBytes } : undefined, // swap = limit: no swap on top
    cpu:
      limits.cpuMillis > 0
        ? {
            shares: Math.max(2, Math.round((limits.cpuMillis * 1024) / 1000)),
            quota: Math.round((limits.cpuMillis * CPU_PERIOD_US) / 1000),
            period: CPU_PERIOD_US,
          }
        : undefined,
    pids: limits.pids > 0 ? { limit: limits.pids } : undefined,
  };
  const caps = [...KEPT_CAPABILITIES];
  const seccomp: SeccompProfile = seccompProfile();
  return {
    ociVersion: "1.0.2",
    hostname: plan.instanceId,
    root: { path: plan.rootfs, readonly: true },
    process: {
      terminal: false,
      user: { uid: plan.process.uid, gid: plan.process.gid },
      args: [...plan.process.args],
      env: [...plan.process.env],
      cwd: plan.process.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      // No rlimits: the instance inherits the daemon's (raising the hard limit is refused inside a user namespace).
      noNewPrivileges: true,
    },
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      plan.idMap
        ? // sysfs cannot be mounted in a user namespace that does not own the network namespace: bind it read-only.
          { destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] }
        : // Without a user namespace the runtime mounts a sysfs of its own (gVisor's is synthetic), never the host's.
          { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      // The only writable place: the root is read-only. tmpfs pages count against the memory limit.
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
      { destination: "/etc/hosts", type: "none", source: plan.hostsFile, options: ["bind", "ro", "nosuid", "nodev", "noexec"] },
    ],
    linux: {
      ...(plan.idMap
        ? {
            uidMappings: [{ containerID: 0, hostID: plan.idMap.hostId, size: plan.idMap.size }],
            gidMappings: [{ containerID: 0, hostID: plan.idMap.hostId, size: plan.idMap.size }],
          }
        : {}),
      namespaces: [
        { type: "pid" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        ...(plan.idMap ? [{ type: "user" }] : []),
        { type: "network", path: plan.netnsPath },
      ],
      cgroupsPath: plan.cgroupsPath,
      resources,
      seccomp,
      maskedPaths: [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}
