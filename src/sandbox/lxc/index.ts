/** Unprivileged LXC system containers from OCI images, held by lxc-execute under LXC's own init. */
export { LxcDriver } from "./driver.js";
export type { LxcDriverOptions } from "./driver.js";
export { lxcConfig } from "./config.js";
export { probeLxc } from "./probe.js";
