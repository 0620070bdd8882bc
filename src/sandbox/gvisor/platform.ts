import { createHash } from "node:crypto";
import { access, constants, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { exec } from "../../system/exec.js";

/** How runsc's sentry intercepts the app's system calls, fastest first. */
export type GvisorPlatform = "kvm" | "systrap" | "ptrace";

export interface PlatformChoice {
  readonly platform: GvisorPlatform;
  /** Why this one, for `strata doctor`. */
  readonly why: string;
}

/** Where the kvm trial's verdict is kept: /run is emptied at boot, and the key holds the boot id and runsc. */
const KVM_VERDICT_FILE = "/run/strata/gvisor-kvm-verdict.json";
/** A working kvm platform runs `true` in about a second; a nested VM whose KVM cannot run runsc's guest hangs. */
const KVM_TRIAL_MS = 15_000;

/**
 * kvm when /dev/kvm can be opened read-write and runsc really runs a program on it (hardware
 * virtualisation: the fastest syscall path; a nested VM may offer a /dev/kvm on which runsc's kvm platform
 * hangs), else systrap when this runsc has it (seccomp traps, newer releases), else ptrace, which every
 * runsc and every kernel with ptrace allowed supports but pays two context switches per system call.
 */
export async function choosePlatform(runsc: string): Promise<PlatformChoice> {
  const kvm = await access("/dev/kvm", constants.R_OK | constants.W_OK).then(
    () => true,
    () => false, // absent or not ours to open: no kvm platform
  );
  const kvmFailure = kvm ? await kvmTrial(runsc) : undefined;
  if (kvm && kvmFailure === undefined) return { platform: "kvm", why: "/dev/kvm is usable and runsc runs on it" };
  const noKvm = kvm ? `runsc's kvm platform does not work with this host's /dev/kvm (${kvmFailure})` : "no usable /dev/kvm";
  const platforms = (await exec([runsc, "help", "platforms"])).stdout.split(/\s+/);
  if (platforms.includes("systrap")) return { platform: "systrap", why: `${noKvm}; this runsc supports systrap` };
  const have = platforms.filter(Boolean).join(", ");
  return { platform: "ptrace", why: `${noKvm}; this runsc has no systrap (its platforms: ${have}; scripts/setup-host.sh builds one that has)` };
}

/** Why runsc cannot run `true` on the kvm platform, or undefined when it can; the verdict is kept until reboot. */
async function kvmTrial(runsc: string): Promise<string | undefined> {
  const bootId = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
  const binary = await stat(runsc);
  const key = createHash("sha256").update(`${bootId}\0${runsc}\0${binary.size}\0${binary.mtimeMs}`).digest("hex");
  const kept = await readFile(KVM_VERDICT_FILE, "utf8").then(
    (text) => JSON.parse(text) as { key: string; failure: string | null },
    () => undefined, // no verdict yet (or an unreadable one): try again
  );
  if (kept?.key === key) return kept.failure ?? undefined;
  const failure = await exec([runsc, "--platform=kvm", "--network=none", "do", "/bin/true"], { timeoutMs: KVM_TRIAL_MS }).then(
    () => undefined,
    (err: Error) => err.message.split("\n")[0]!,
  );
  await mkdir(dirname(KVM_VERDICT_FILE), { recursive: true });
  await writeFile(KVM_VERDICT_FILE, JSON.stringify({ key, failure: failure ?? null }));
  return failure;
}
