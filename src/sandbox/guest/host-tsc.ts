import { readFile } from "node:fs/promises";

/** The host's TSC frequency in kHz, as /proc/cpuinfo reports it (the guest's TSC runs at it under TCG). */
export async function hostTscKhz(): Promise<number | undefined> {
  const mhz = /^cpu MHz\s*:\s*([\d.]+)$/m.exec(await readFile("/proc/cpuinfo", "utf8"))?.[1];
  return mhz ? Math.round(Number(mhz) * 1000) : undefined;
}
