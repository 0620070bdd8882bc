import { which } from "../../system/exec.js";

/**
 * Where scripts/setup-host.sh installs runsc built from gVisor's Go module at a pinned version: a current
 * runsc, with the systrap platform. Outside PATH so the host's own runsc (Debian's 2022 build, ptrace only)
 * is left as it is.
 */
export const STRATA_RUNSC = "/usr/local/lib/strata/bin/runsc";

/** The runsc the driver runs: Strata's pinned build when installed, else the one on PATH (Debian's fallback). */
export async function runscBinary(): Promise<string> {
  return (await which(STRATA_RUNSC)) ?? "runsc";
}
