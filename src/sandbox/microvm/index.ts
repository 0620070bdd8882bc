/** microVMs: Firecracker where KVM runs guests and the binary is here, else QEMU's microvm machine (KVM when it works, else TCG). */
export { MicrovmDriver } from "./driver.js";
export type { MicrovmDriverOptions, MicrovmPrepared, MicrovmProfile } from "./driver.js";
export type { VmmBackend, VmSpec } from "./backend.js";
export { VM_FILES } from "./backend.js";
export { QemuBackend, qemuArgv, guestCmdline } from "./qemu.js";
export { probeMicrovm, firecrackerMissing } from "./probe.js";
export { SnapshotStore } from "./snapshots.js";
