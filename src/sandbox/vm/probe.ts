import { exec, which } from "../../system/exec.js";
import type { Probe } from "../driver.js";
import { guestKernel, guestRamSource, type AccelChoice } from "../guest/index.js";

export const QEMU = "qemu-system-x86_64";

/**
 * Can this host run full VMs? The guest kernel (scripts/setup-host.sh), the tools the guest pipeline uses,
 * QEMU, and which accelerator it gets: KVM only where the KVM trial ran a guest, else TCG.
 */
export async function probeVm(accel: () => Promise<AccelChoice>, hugePages: boolean): Promise<Probe> {
  try {
    const kernel = await guestKernel().catch((err: Error) => err);
    if (kernel instanceof Error) return { available: false, reason: kernel.message, install: ["scripts/setup-host.sh (guest kernel)"] };
    for (const [tool, pkg] of [["mkfs.ext4", "e2fsprogs"], ["nsenter", "util-linux"], ["tc", "iproute2"], [QEMU, "qemu-system-x86"]] as const) {
      if (!(await which(tool))) return { available: false, reason: `${tool} is not installed`, install: [pkg] };
    }
    if (!(await which("go")) && !(await which("/usr/local/go/bin/go"))) return { available: false, reason: "go is not installed (it builds the guest init)", install: ["golang-go"] };
    const qemu = (await which(QEMU))!;
    const version = (await exec([qemu, "--version"])).stdout.split("\n")[0] ?? "";
    const choice = await accel();
    const backend = choice.accel === "kvm" ? "qemu-kvm here" : "qemu-tcg here (kvm where /dev/kvm runs guests)";
    return {
      available: true,
      details: { backend, machines: "q35 (default), pc", qemu: `${qemu} (${version})`, accel: `${choice.accel} (${choice.why})`, kernel: `${kernel.release} (${kernel.vmlinux})`, "guest RAM": await guestRamSource(hugePages) },
    };
  } catch (err) {
    return { available: false, reason: `probing vm failed: ${(err as Error).message}` };
  }
}
