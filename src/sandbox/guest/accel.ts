import { createHash } from "node:crypto";
import { access, constants, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { exec } from "../../system/exec.js";

export type QemuAccel = "kvm" | "tcg";

export interface AccelChoice {
  readonly accel: QemuAccel;
  readonly why: string;
}

/** Kept until reboot (/run is emptied at boot); the key holds the boot id and the QEMU binary. */
const VERDICT_FILE = "/run/strata/microvm-kvm-verdict.json";
/** A working KVM panics the root-less guest kernel (and so ends QEMU) in well under a second. */
const TRIAL_MS = 8_000;

/**
 * kvm when /dev/kvm opens read-write and QEMU really runs a guest on it, else tcg. A host that is itself a
 * VM may offer a /dev/kvm on which guests stall (measured here: SeaBIOS never finishes), so the trial boots
 * a tiny guest under `-accel kvm` with a short timeout, once per boot, as gvisor/platform.ts does for runsc.
 */
export async function chooseAccel(qemu: string, vmlinux: string): Promise<AccelChoice> {
  const kvm = await access("/dev/kvm", constants.R_OK | constants.W_OK).then(
    () => true,
    () => false, // absent or not ours to open
  );
  if (!kvm) return { accel: "tcg", why: "no usable /dev/kvm" };
  const failure = await kvmTrial(qemu, vmlinux);
  return failure === undefined
    ? { accel: "kvm", why: "/dev/kvm is usable and QEMU runs a guest on it" }
    : { accel: "tcg", why: `QEMU cannot run a guest on this host's /dev/kvm (${failure})` };
}

async function kvmTrial(qemu: string, vmlinux: string): Promise<string | undefined> {
  const bootId = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
  const key = createHash("sha256").update(`${bootId}\0${qemu}\0${vmlinux}`).digest("hex");
  const kept = await readFile(VERDICT_FILE, "utf8").then(
    (text) => JSON.parse(text) as { key: string; failure: string | null },
    () => undefined, // no verdict yet: try
  );
  if (kept?.key === key) return kept.failure ?? undefined;
  // The guest kernel with no root: under a working KVM it panics within a second and, with panic=-1 and
  // -no-reboot, QEMU exits; on a /dev/kvm that cannot run guests it stalls until the timeout.
  const failure = await exec(
    [qemu, "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", "128", "-nodefaults", "-no-user-config", "-display", "none",
      "-no-reboot", "-serial", "none", "-kernel", vmlinux, "-append", "panic=-1 quiet"],
    { timeoutMs: TRIAL_MS },
  ).then(
    () => undefined,
    (err: Error) => (/timed out|timeout/i.test(err.message) ? `a guest stalled for ${TRIAL_MS / 1000} s` : err.message.split("\n")[0]!),
  );
  await mkdir(dirname(VERDICT_FILE), { recursive: true });
  await writeFile(VERDICT_FILE, JSON.stringify({ key, failure: failure ?? null }));
  return failure;
}
