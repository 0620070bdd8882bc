import { readFile } from "node:fs/promises";
import { which } from "../../system/exec.js";
import { ignoreMissing } from "../../system/fs.js";
import type { Probe } from "../driver.js";

const INSTALL = ["xen-system-amd64", "reboot into the Xen hypervisor"];

/**
 * Can this host run Xen guests? Only a dom0 can: the kernel booted under Xen (`/proc/xen/capabilities`
 * says `control_d`) with `xl` installed. Otherwise it says why not, in the host's own terms: no Xen at
 * all, a domU (a guest of someone else's Xen), or a VM of another hypervisor (Xen would have to nest).
 */
export async function probeXen(procXen = "/proc/xen", cpuinfo = "/proc/cpuinfo"): Promise<Probe> {
  const caps = await readFile(`${procXen}/capabilities`, "utf8").catch(ignoreMissing(undefined));
  if (caps?.includes("control_d")) {
    const xl = await which("xl");
    return xl ? { available: true, details: { xl } } : { available: false, reason: "this host is a Xen dom0 but xl is not installed", install: ["xen-utils"] };
  }
  if (caps !== undefined) return { available: false, reason: "this host is a Xen domU (a guest; /proc/xen/capabilities has no control_d): only dom0 creates guests", install: INSTALL };
  const nested = /^flags\s*:.*\bhypervisor\b/m.test(await readFile(cpuinfo, "utf8"));
  const why = nested
    ? "it is itself a virtual machine of another hypervisor (the CPU's hypervisor flag is set), so Xen would have to run nested under it"
    : "the kernel did not boot under the Xen hypervisor";
  return { available: false, reason: `this host is not a Xen dom0: no /proc/xen; ${why}`, install: INSTALL };
}
