import { readFile } from "node:fs/promises";
import { exec, which } from "../../system/exec.js";
import type { Probe } from "../driver.js";
import type { OciRuntimeName } from "./runtime-cli.js";

/** How the host mounts cgroups: v2 only, v1 only, or v1 controllers plus a v2 hierarchy ("hybrid"). */
export type CgroupLayout = "v2" | "v1" | "hybrid";

export async function cgroupLayout(): Promise<CgroupLayout> {
  const mounts = await readFile("/proc/self/mounts", "utf8");
  const lines = mounts.split("\n").map((l) => l.split(" "));
  if (lines.some((f) => f[1] === "/sys/fs/cgroup" && f[2] === "cgroup2")) return "v2";
  return lines.some((f) => f[2] === "cgroup2") ? "hybrid" : "v1";
}

/**
 * Can this host run OCI instances with `runtime` (run as `binary`: a path, or a name on PATH)? Checks the binaries (runtime, conmon, ip, nft), user
 * namespaces (not for runsc, whose instances get none), overlayfs and the cgroup layout. crun (seen with
 * 1.8.1) refuses a hybrid cgroup layout at container start ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"), which is
 * what this host has, so crun is reported unavailable on any hybrid host; and Strata's limits are written for cgroup v1 (cgroup-v1.ts), so a v2-only host is
 * reported as unsupported too until a v2 reader exists.
 */
export async function probeOci(runtime: OciRuntimeName | "runsc", binary: string = runtime): Promise<Probe> {
  const details: Record<string, string> = {};
  const missing: string[] = [];
  const install: string[] = [];
  for (const [name, bin, pkg] of [[runtime, binary, runtime], ["conmon", "conmon", "conmon"], ["ip", "ip", "iproute2"], ["nft", "nft", "nftables"]] as const) {
    const path = await which(bin);
    if (path) details[name] = path;
    else {
      missing.push(`${bin} is not installed`);
      install.push(pkg);
    }
  }
  if (missing.length) return { available: false, reason: missing.join("; "), install, details };

  const version = /version\s+(\S+)/.exec((await exec([details[runtime]!, "--version"])).stdout)?.[1] ?? "unknown";
  details.version = version;
  const layout = await cgroupLayout();
  details.cgroups = layout;
  // No such file: a kernel built without user namespaces, which counts as 0.
  const userns = Number((await readFile("/proc/sys/user/max_user_namespaces", "utf8").catch(() => "0")).trim());
  if (!(userns > 0) && runtime !== "runsc") {
    return { available: false, reason: "user namespaces are disabled (sysctl user.max_user_namespaces is 0)", install: ["sysctl -w user.max_user_namespaces=15000"], details };
  }
  if (!(await readFile("/proc/filesystems", "utf8")).includes("\toverlay\n")) {
    return { available: false, reason: "the kernel has no overlayfs (CONFIG_OVERLAY_FS)", install: ["modprobe overlay"], details };
  }
  if (layout === "v2") {
    return { available: false, reason: "this host uses cgroup v2 only; Strata's OCI driver reads cgroup v1 limits and counters", details };
  }
  if (runtime === "crun" && layout === "hybrid") {
    return {
      available: false,
      reason:
        `crun ${version} refuses this host's hybrid cgroup layout ("cgroups in hybrid mode not supported, drop all ` +
        "controllers from cgroupv2\"): v1 controllers plus a cgroup v2 hierarchy at /sys/fs/cgroup/unified. Use the runc " +
        "driver, or boot with a single cgroup version",
      details,
    };
  }
  return { available: true, details };
}
