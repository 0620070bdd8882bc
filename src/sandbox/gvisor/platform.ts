import { access, constants } from "node:fs/promises";
import { exec } from "../../system/exec.js";

/** How runsc's sentry intercepts the app's system calls, fastest first. */
export type GvisorPlatform = "kvm" | "systrap" | "ptrace";

export interface PlatformChoice {
  readonly platform: GvisorPlatform;
  /** Why this one, for `strata doctor`. */
  readonly why: string;
}

/**
 * kvm when /dev/kvm can be opened read-write (hardware virtualisation: the fastest syscall path), else
 * systrap when this runsc has it (seccomp traps, newer releases), else ptrace, which every runsc and every
 * kernel with ptrace allowed supports but pays two context switches per system call.
 */
export async function choosePlatform(runsc: string): Promise<PlatformChoice> {
  const kvm = await access("/dev/kvm", constants.R_OK | constants.W_OK).then(
    () => true,
    () => false, // absent or not ours to open: no kvm platform
  );
  if (kvm) return { platform: "kvm", why: "/dev/kvm is usable" };
  const platforms = (await exec([runsc, "help", "platforms"])).stdout.split(/\s+/);
  if (platforms.includes("systrap")) return { platform: "systrap", why: "no usable /dev/kvm; this runsc supports systrap" };
  return { platform: "ptrace", why: `no usable /dev/kvm; this runsc has no systrap (its platforms: ${platforms.filter(Boolean).join(", ")})` };
}
