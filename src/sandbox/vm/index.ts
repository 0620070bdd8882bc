/** Full virtual machines: a QEMU PC (q35 or i440FX, ACPI, virtio-pci) booting the guest pipeline microvm boots. */
export { VmDriver, DATA_MOUNT } from "./driver.js";
export type { VmDriverOptions, VmPrepared } from "./driver.js";
export { machineFor } from "./machine.js";
export type { VmMachine, VmMachineModel } from "./machine.js";
export { vmQemuArgv, vmCmdline, VM_FILES } from "./qemu.js";
export type { VmLaunch } from "./qemu.js";
export { probeVm } from "./probe.js";
