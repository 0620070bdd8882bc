import { which } from "../../system/exec.js";
import type { Probe } from "../driver.js";
import { guestKernel } from "../guest/index.js";
import { chooseAccel } from "../guest/index.js";

/** Which of the two ways this host runs kata instances, and why. */
export type KataMode =
  | { readonly kind: "runtime"; readonly binary: string; readonly why: string }
  | { readonly kind: "agent"; readonly why: string };

/**
 * The real Kata Containers when the host has it and a /dev/kvm that runs guests (Kata needs KVM): its
 * `kata-runtime` OCI CLI gets the bundle. Otherwise Strata's own agent on the QEMU microvm backend. A
 * host with only containerd's shim (containerd-shim-kata-v2, Kata 2.x) is said so: Strata hands bundles
 * to an OCI runtime CLI, not to containerd.
 */
export async function chooseKataMode(): Promise<KataMode> {
  const runtime = await which("kata-runtime");
  const shim = await which("containerd-shim-kata-v2");
  if (!runtime && !shim) return { kind: "agent", why: "no kata-runtime or containerd-shim-kata-v2 on this host" };
  const qemu = await which("qemu-system-x86_64");
  const kernel = await guestKernel().catch(() => undefined); // no guest kernel: the trial cannot run, said below
  const accel = qemu && kernel ? await chooseAccel(qemu, kernel.vmlinux) : { accel: "tcg", why: "no QEMU or guest kernel to try /dev/kvm with" };
  if (accel.accel !== "kvm") return { kind: "agent", why: `Kata is installed, but ${accel.why}` };
  if (!runtime) return { kind: "agent", why: `only ${shim} (Kata 2.x) is installed: it needs containerd, and Strata hands bundles to kata-runtime's OCI CLI` };
  return { kind: "runtime", binary: runtime, why: `${runtime} and a /dev/kvm that runs guests` };
}

/** The probe's details say which of the two this host uses (`strata doctor`). */
export function withMode(probe: Probe, mode: KataMode): Probe {
  const uses = mode.kind === "runtime" ? `kata-runtime (${mode.why})` : `Strata's agent in a QEMU microvm guest (${mode.why})`;
  return { ...probe, details: { ...probe.details, uses } };
}
