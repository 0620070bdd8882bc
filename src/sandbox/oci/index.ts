/** Linux containers through runc or crun (one driver class, `runtime` option), with conmon as holder. */
export { OciDriver } from "./driver.js";
export type { OciDriverOptions, OciRuntimeProfile } from "./driver.js";
export type { OciRuntimeName } from "./runtime-cli.js";
export type { IdMap } from "./bundle.js";
export { KEPT_CAPABILITIES, runtimeConfig } from "./bundle.js";
export { seccompProfile } from "./seccomp.js";
export { probeOci, cgroupLayout } from "./probe.js";
