/** gVisor instances: the OCI driver's bundles run by runsc, on the fastest platform the host offers. */
export { GvisorDriver } from "./driver.js";
export type { GvisorDriverOptions, GvisorNetStack } from "./driver.js";
export { choosePlatform } from "./platform.js";
export type { GvisorPlatform, PlatformChoice } from "./platform.js";
export { probeGvisor, NETWORK_DETAILS } from "./probe.js";
export { hostPidsLimit, taskBudget } from "./resources.js";
export type { TaskBudget } from "./resources.js";
export { runscBinary, STRATA_RUNSC } from "./runsc.js";
