import { StrataError } from "../../errors.js";
import type { IdMap } from "../oci/bundle.js";
import { KEPT_CAPABILITIES } from "../oci/bundle.js";
import type { ProcessPlan } from "../oci/bundle.js";
import { IN_CONTAINER } from "./holder.js";

export interface LxcConfigPlan {
  readonly instanceId: string;
  readonly rootfs: string;
  readonly netnsPath: string;
  readonly hostsFile: string;
  /** Host files bind-mounted read-only into the container: the static busybox and the app wrapper. */
  readonly busybox: string;
  readonly mainScript: string;
  /**
   * The container's cgroup and its monitor's (lxc-execute's), relative to each v1 hierarchy's root. The
   * limits are not lxc.cgroup.* keys: they sit on the container cgroup's parent (cgroup-limits.ts).
   */
  readonly cgroupDir: string;
  readonly monitorCgroupDir: string;
  readonly idMap: IdMap;
  /** env, cwd, uid and gid of the app; its argv goes to lxc-execute after `--`, as an array. */
  readonly process: ProcessPlan;
}

/**
 * The LXC config file (lxc.container.conf(5)) of one instance. Every key is set here rather than left to
 * the distribution's defaults (no lxc.include): an unprivileged container (id map), the instance netns
 * from HostNetwork joined as is, its cgroups, no console or ttys (the app's stdio is the holder's),
 * a tmpfs /tmp and the instance's /etc/hosts. One `key = value` per line: a value with a newline would
 * start a new key, so it is refused.
 */
export function lxcConfig(plan: LxcConfigPlan): string {
  const { process: proc, idMap } = plan;
  const lines: Array<[string, string | number]> = [
    ["lxc.uts.name", plan.instanceId],
    ["lxc.rootfs.path", `dir:${plan.rootfs}`],
    ["lxc.idmap", `u 0 ${idMap.hostId} ${idMap.size}`],
    ["lxc.idmap", `g 0 ${idMap.hostId} ${idMap.size}`],
    ["lxc.namespace.share.net", plan.netnsPath],
    // sysfs cannot be mounted by a user namespace that does not own the network namespace: none is mounted.
    ["lxc.mount.auto", "proc:mixed"],
    ["lxc.autodev", 1],
    ["lxc.mount.entry", "tmpfs tmp tmpfs rw,nosuid,nodev,mode=1777 0 0"],
    ["lxc.mount.entry", "shm dev/shm tmpfs rw,nosuid,nodev,noexec,mode=1777,size=65536k,create=dir 0 0"],
    ["lxc.mount.entry", `${plan.hostsFile} etc/hosts none bind,ro,nosuid,nodev,noexec,create=file 0 0`],
    ["lxc.mount.entry", `${plan.busybox} ${IN_CONTAINER.busybox.slice(1)} none bind,ro,nosuid,nodev,create=file 0 0`],
    ["lxc.mount.entry", `${plan.mainScript} ${IN_CONTAINER.main.slice(1)} none bind,ro,nosuid,nodev,noexec,create=file 0 0`],
    ["lxc.console.path", "none"],
    ["lxc.tty.max", 0],
    ["lxc.pty.max", 0],
    ["lxc.cap.keep", KEPT_CAPABILITIES.map((c) => c.slice("CAP_".length).toLowerCase()).join(" ")],
    ["lxc.no_new_privs", 1],
    ["lxc.apparmor.profile", "unconfined"], // no AppArmor on this host; the user namespace is the boundary
    // Split, so the container's own cgroup is exactly cgroupDir (where CgroupV1 reads counters and kills
    // leftovers), not a lxc.payload.<name> child of it, and the monitor is counted apart.
    ["lxc.cgroup.dir.container", plan.cgroupDir],
    ["lxc.cgroup.dir.monitor", plan.monitorCgroupDir],
    ["lxc.init.uid", proc.uid],
    ["lxc.init.gid", proc.gid],
    ["lxc.init.cwd", proc.cwd],
    ["lxc.log.level", "ERROR"],
  ];
  for (const kv of proc.env) lines.push(["lxc.environment", kv]);
  for (const [key, value] of lines) {
    if (/[\n\r]/.test(String(value))) {
      throw new StrataError("INVALID_CONFIG", `${key === "lxc.environment" ? `environment variable ${String(value).split("=")[0]}` : key} has a line break, which an LXC config cannot carry`);
    }
  }
  return `${lines.map(([k, v]) => `${k} = ${v}`).join("\n")}\n`;
}
