import { access } from "node:fs/promises";
import { exec, which } from "../../system/exec.js";
import type { Probe } from "../driver.js";
import { cgroupLayout } from "../oci/probe.js";
import { HOST_BUSYBOX } from "./holder.js";

/** LXC's static init, which lxc-execute runs as the container's pid 1 (it forwards signals, reaps, and exits with the app's status). */
export const LXC_INIT = "/usr/sbin/init.lxc.static";

/**
 * Can this host run LXC instances? The tools (lxc-execute, lxc-stop), LXC's static init, the static busybox that runs the app wrapper, ip
 * and nft for the instance network, and cgroup v1 controllers (the limits are lxc.cgroup.* keys; a
 * v2-only host would need lxc.cgroup2.*, not written yet).
 */
export async function probeLxc(): Promise<Probe> {
  const details: Record<string, string> = {};
  const missing: string[] = [];
  for (const tool of ["lxc-execute", "lxc-stop", "ip", "nft"]) if (!(await which(tool))) missing.push(tool);
  for (const file of [LXC_INIT, HOST_BUSYBOX]) if (!(await access(file).then(() => true, () => false))) missing.push(file);
  if (missing.length) return { available: false, reason: `missing ${missing.join(", ")} (run scripts/setup-host.sh)`, install: ["lxc", "busybox-static"] };
  const version = await exec(["lxc-execute", "--version"], { okCodes: [0, 1] });
  details.version = version.stdout.trim();
  const layout = await cgroupLayout();
  details.cgroups = layout;
  if (layout === "v2") return { available: false, reason: "this host mounts cgroup v2 only; the lxc driver writes cgroup v1 limits", details };
  return { available: true, details };
}
