/** microVMs: QEMU's microvm machine (KVM when it works, else TCG) behind a backend interface Firecracker fits. */
export { MicrovmDriver, GUEST_OVERHEAD_MB } from "./driver.js";
export type { MicrovmDriverOptions, MicrovmPrepared, MicrovmProfile } from "./driver.js";
export type { VmmBackend, VmSpec } from "./backend.js";
export { VM_FILES } from "./backend.js";
export { QemuBackend, qemuArgv, guestCmdline, hostTscKhz } from "./qemu.js";
export { QmpClient } from "./qmp.js";
export type { QmpCommands, QmpEvent } from "./qmp.js";
export { chooseAccel } from "./accel.js";
export type { AccelChoice, QemuAccel } from "./accel.js";
export { probeMicrovm, firecrackerMissing } from "./probe.js";
