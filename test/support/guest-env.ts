import { chooseAccel, guestEnvDefaults, guestKernel } from "../../src/sandbox/guest/index.js";

/** What a QEMU guest's app finds in its env besides the image's and the spec's on this host (TCG or KVM). */
export async function expectedGuestEnv(): Promise<Readonly<Record<string, string>>> {
  return guestEnvDefaults((await chooseAccel("qemu-system-x86_64", (await guestKernel()).vmlinux)).accel === "tcg");
}
