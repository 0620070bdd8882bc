/**
 * Xen: each instance a PVH domain on a dom0, through xl, booting the guest pipeline the QEMU drivers boot
 * (sandbox/guest). Off a dom0, probe() says why not.
 */
export { XenDriver, XEN_CMDLINE } from "./driver.js";
export type { XenDriverOptions, XenPrepared } from "./driver.js";
export { probeXen } from "./probe.js";
export { Xl } from "./xl.js";
export { xlConfig } from "./xl-config.js";
export type { XenGuest } from "./xl-config.js";
