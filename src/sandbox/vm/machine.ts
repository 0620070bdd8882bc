import type { InstanceSpec } from "../driver.js";
import { GUEST_OVERHEAD_MB } from "../guest/index.js";

/** QEMU's two PC machine models: q35 (ICH9, PCI Express) and pc (i440FX, PCI). */
export type VmMachineModel = "q35" | "pc";

/** The machine one instance boots: app.yaml `vm:` where it says so, else the instance class's share. */
export interface VmMachine {
  readonly machine: VmMachineModel;
  readonly vcpus: number;
  /** The guest's RAM. */
  readonly memoryMb: number;
  /** The app's memory cap inside the guest (its cgroup), the rest is the guest kernel's. */
  readonly appMemoryMb: number;
  /** A scratch disk at /data, made empty for each instance (app.yaml `vm.data_disk_mb`). */
  readonly dataDiskMb?: number;
}

/**
 * The machine for an instance. Memory: app.yaml `vm.memory_mb` is the whole guest's RAM (at least the
 * overhead plus 32 MiB, as the schema checks); without it the guest gets the instance class's memory plus
 * the overhead. The app's cap is the class's memory, or what the RAM leaves it if that is less.
 */
export function machineFor(spec: InstanceSpec): VmMachine {
  const vm = spec.vm ?? {};
  const memoryMb = vm.memoryMb ?? spec.limits.memoryMb + GUEST_OVERHEAD_MB;
  return {
    machine: vm.machine ?? "q35",
    vcpus: vm.vcpus ?? 1,
    memoryMb,
    appMemoryMb: Math.min(spec.limits.memoryMb, memoryMb - GUEST_OVERHEAD_MB),
    ...(vm.dataDiskMb !== undefined && { dataDiskMb: vm.dataDiskMb }),
  };
}
