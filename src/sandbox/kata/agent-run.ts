import type { InstanceSpec } from "../driver.js";
import type { GuestNet } from "../guest/index.js";
import type { ProcessPlan } from "../oci/bundle.js";

/** Where the agent mounts a container's storage and builds its root (Kata's /run/kata-containers/<id>). */
const CONTAINERS_DIR = "/run/kata/containers";
/** The rootfs disk: the first virtio block device (the microvm backend's root drive). */
const ROOTFS_DEVICE = "/dev/vda";

/** Kata's agent Storage: a device the agent mounts before it makes the container (blk: a virtio disk). */
export interface AgentStorage {
  readonly driver: "blk";
  readonly source: string;
  readonly fstype: string;
  readonly options: readonly string[];
  readonly mountPoint: string;
}

/**
 * What the host hands the guest agent (init/agent.go), Kata's CreateContainerRequest in small: the
 * container id, its storages (the image rootfs as a read-only block device) and the OCI runtime spec.
 */
export interface AgentRun {
  readonly containerId: string;
  readonly storages: readonly AgentStorage[];
  readonly spec: OciRuntimeSpec;
  readonly net: GuestNet;
}

/** The part of the OCI runtime spec (config.json, runtime-spec 1.0) the agent acts on. */
export interface OciRuntimeSpec {
  readonly ociVersion: string;
  readonly process: {
    readonly args: readonly string[];
    readonly env: readonly string[];
    readonly cwd: string;
    readonly user: { readonly uid: number; readonly gid: number; readonly additionalGids: readonly number[] };
    readonly noNewPrivileges: boolean;
  };
  readonly root: { readonly path: string; readonly readonly: boolean };
  readonly hostname: string;
  readonly mounts: ReadonlyArray<{ readonly destination: string; readonly type: string; readonly source: string; readonly options: readonly string[] }>;
  readonly linux: {
    readonly namespaces: ReadonlyArray<{ readonly type: "mount" | "pid" | "uts" | "ipc" | "network" }>;
    readonly resources: { readonly memory: { readonly limit: number }; readonly pids: { readonly limit: number } };
  };
}

/**
 * The container request for one instance: the image's process (entrypoint/cmd, env, user, workdir, as
 * processFor() merged it with the spec), a read-only root with a writable /tmp as the runc driver gives,
 * its own mount, pid, uts and ipc namespaces in the guest (the network is the guest's, as in Kata), and
 * the instance's memory and pids as the container's cgroup limits.
 */
export function agentRunFor(id: string, proc: ProcessPlan, spec: InstanceSpec, net: GuestNet): AgentRun {
  const dir = `${CONTAINERS_DIR}/${id}`;
  return {
    containerId: id,
    storages: [{ driver: "blk", source: ROOTFS_DEVICE, fstype: "ext4", options: ["ro"], mountPoint: `${dir}/image` }],
    spec: {
      ociVersion: "1.0.2",
      process: {
        args: proc.args, env: proc.env, cwd: proc.cwd,
        user: { uid: proc.uid, gid: proc.gid, additionalGids: [] },
        noNewPrivileges: true,
      },
      root: { path: `${dir}/image`, readonly: true },
      hostname: id,
      mounts: [
        { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
        { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
        { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
        { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
        { destination: "/dev/null", type: "bind", source: "/dev/null", options: ["rbind"] },
        { destination: "/dev/zero", type: "bind", source: "/dev/zero", options: ["rbind"] },
        { destination: "/dev/random", type: "bind", source: "/dev/random", options: ["rbind"] },
        { destination: "/dev/urandom", type: "bind", source: "/dev/urandom", options: ["rbind"] },
        { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
        { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
      ],
      linux: {
        namespaces: [{ type: "mount" }, { type: "pid" }, { type: "uts" }, { type: "ipc" }],
        resources: { memory: { limit: spec.limits.memoryMb * 2 ** 20 }, pids: { limit: spec.limits.pids } },
      },
    },
    net,
  };
}
