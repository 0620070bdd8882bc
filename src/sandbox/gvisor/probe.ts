import { readFile } from "node:fs/promises";
import { which } from "../../system/exec.js";
import type { Probe } from "../driver.js";
import { probeOci } from "../oci/probe.js";
import type { PlatformChoice } from "./platform.js";

/** What `strata doctor` shows about the instances' network under runsc (see driver.ts for why). */
export const NETWORK_DETAILS = {
  netstack: "gVisor's netstack (--network=sandbox) in the instance's own network namespace",
  host: "the host kernel's network stack (--network=host), inside the instance's own network namespace",
} as const;

/**
 * Can this host run gVisor instances? The OCI checks for runsc (binaries: runsc, conmon, ip, nft; overlayfs;
 * a cgroup v1 layout), then the platform: ptrace needs ptrace allowed (Yama scope 3 forbids it for everyone).
 * The chosen platform and network mode are in the details. `runsc start` runs under nsenter (start-namespace.ts).
 */
export async function probeGvisor(
  runsc: string, choose: () => Promise<PlatformChoice>, network: keyof typeof NETWORK_DETAILS,
): Promise<Probe> {
  const oci = await probeOci("runsc", runsc);
  if (!oci.available) return oci;
  for (const tool of ["nsenter", "unshare"]) {
    if (!(await which(tool))) return { available: false, reason: `${tool} is not installed`, install: ["util-linux"], details: oci.details };
  }
  const choice = await choose();
  const details = { ...oci.details, platform: `${choice.platform} (${choice.why})`, network: NETWORK_DETAILS[network] };
  if (choice.platform === "ptrace") {
    const scope = (await readFile("/proc/sys/kernel/yama/ptrace_scope", "utf8").catch(() => "0")).trim(); // no Yama: no restriction
    if (scope === "3") {
      return {
        available: false,
        reason: "gVisor's ptrace platform needs ptrace, which kernel.yama.ptrace_scope=3 forbids (and /dev/kvm is not usable)",
        install: ["a host with /dev/kvm, or a boot with kernel.yama.ptrace_scope below 3"],
        details,
      };
    }
  }
  return { available: true, details };
}
