import { access, constants } from "node:fs/promises";
import { which } from "../../system/exec.js";
import type { Probe } from "../driver.js";
import { guestKernel } from "../guest/index.js";
import type { VmmBackend } from "./backend.js";
import { ChosenBackend } from "./select.js";

/** What Firecracker needs that this host lacks (its probe, and `strata doctor` for any other backend). */
export async function firecrackerMissing(kvmRuns: boolean): Promise<string[]> {
  const missing: string[] = [];
  const kvm = await access("/dev/kvm", constants.R_OK | constants.W_OK).then(() => true, () => false);
  if (!kvm) missing.push("/dev/kvm");
  else if (!kvmRuns) missing.push("a /dev/kvm that runs guests (this one stalls them)");
  if (!(await which("firecracker"))) missing.push("the firecracker binary");
  return missing;
}

/** Why Firecracker is not the backend: what it needs, in its own probe's words when the driver chose between them. */
async function firecrackerWhyNot(backend: VmmBackend, detail: string): Promise<string> {
  if (backend instanceof ChosenBackend) return (await backend.firecracker.probe()).reason ?? "firecracker is not used";
  const fc = await firecrackerMissing(detail.endsWith("-kvm"));
  return fc.length ? `firecracker needs ${fc.join(" and ")}` : "firecracker is not used (another backend was given)";
}

/**
 * Can this host run microVMs? The guest kernel (scripts/setup-host.sh), mkfs.ext4, nsenter and tc, then the
 * backend's own checks; the details say which backend runs and what Firecracker lacks.
 */
export async function probeMicrovm(backend: VmmBackend): Promise<Probe> {
  try {
    const kernel = await guestKernel().catch((err: Error) => err);
    if (kernel instanceof Error) return { available: false, reason: kernel.message, install: ["scripts/setup-host.sh (guest kernel)"] };
    for (const [tool, pkg] of [["mkfs.ext4", "e2fsprogs"], ["nsenter", "util-linux"], ["tc", "iproute2"], ["go", "golang-go"]] as const) {
      if (!(await which(tool)) && !(tool === "go" && (await which("/usr/local/go/bin/go")))) {
        return { available: false, reason: `${tool} is not installed`, install: [pkg] };
      }
    }
    const probe = await backend.probe();
    const detail = await backend.detail();
    const summary = detail === "firecracker" ? "firecracker here" : `${detail} here; ${await firecrackerWhyNot(backend, detail)}`;
    return {
      ...probe,
      accelerated: !detail.endsWith("-tcg"),
      details: { ...probe.details, backend: summary, kernel: `${kernel.release} (${kernel.vmlinux})` },
    };
  } catch (err) {
    return { available: false, reason: `probing microvm failed: ${(err as Error).message}` };
  }
}
