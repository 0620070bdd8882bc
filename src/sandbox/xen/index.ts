/**
 * Xen (not a driver yet): the host probe, and the xl.cfg a dom0 would create each instance's PVH guest from.
 * The guest it describes is the one the QEMU drivers boot (sandbox/guest).
 */
export { probeXen } from "./probe.js";
export { xlConfig } from "./xl-config.js";
export type { XenGuest } from "./xl-config.js";
