import { access, constants } from "node:fs/promises";
import { which } from "../system/exec.js";
import type { Probe } from "./driver.js";

/**
 * Host checks for drivers Strata does not ship yet: `strata doctor` can already say what a host lacks
 * for them, so a later driver only adds its folder.
 */
async function hasDevice(path: string): Promise<boolean> {
  return access(path, constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
}

async function needs(binaries: Record<string, string>, devices: Record<string, string> = {}): Promise<Probe> {
  const missing: string[] = [];
  const install: string[] = [];
  const details: Record<string, string> = {};
  for (const [bin, pkg] of Object.entries(binaries)) {
    const path = await which(bin);
    if (path) details[bin] = path;
    else {
      missing.push(`${bin} is not installed`);
      install.push(pkg);
    }
  }
  for (const [dev, why] of Object.entries(devices)) {
    if (!(await hasDevice(dev))) {
      missing.push(`${dev} is missing (${why})`);
      install.push(dev);
    }
  }
  return missing.length ? { available: false, reason: missing.join("; "), install, details } : { available: true, details };
}


export const HOST_PROBES = {
  k8s: () => needs({ kubectl: "kubectl (and a kubeconfig for a cluster)" }),
} as const;
