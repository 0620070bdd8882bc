/**
 * The guest pipeline every VM-class driver shares (microvm, kata, vm, xen, and the functions that run in them): an OCI image as a read-only ext4
 * root disk, a guest kernel built from Debian's 6.1 source as a PVH vmlinux, an initramfs with Strata's guest init, the run file,
 * the host<->guest line protocol, and the per-instance bookkeeping the drivers compose (GuestInstances).
 */
export { guestAssets, guestKernel, guestInitBinary, GUEST_KERNEL_DIR, GUEST_CACHE_DIR, GUEST_OVERHEAD_MB } from "./assets.js";
export type { GuestAssets, GuestKernel } from "./assets.js";
export { cpioNewc } from "./cpio.js";
export type { CpioEntry } from "./cpio.js";
export { rootDisk, rootDiskDir } from "./root-disk.js";
export type { RootDisk } from "./root-disk.js";
export { writeRunDisk, writeJsonDisk } from "./run-file.js";
export type { RunFile, GuestNet } from "./run-file.js";
export { LOG_PORT, CTL_PORT, GuestEvent, parseGuestEvent, encodeControl } from "./protocol.js";
export type { GuestControl } from "./protocol.js";
export { EXEC_PORT, GuestExec, encodeExecRequest, parseExecEvent } from "./exec-channel.js";
export type { ExecRequest, GuestExecOptions } from "./exec-channel.js";
export { QmpClient } from "./qmp.js";
export type { QmpCommands, QmpEvent } from "./qmp.js";
export { bridgeGuestNic, guestNetOf, plumbGuestNet, TAP } from "./network.js";
export { placeVmm } from "./vmm-cgroup.js";
export { guestRamSource, hugetlbBytes, hugetlbPool, launchOnHugePages, withHugetlb } from "./hugepages.js";
export type { HugetlbPool } from "./hugepages.js";
export { GuestLogFollower, lastGuestExit } from "./guest-log.js";
export type { GuestExit } from "./guest-log.js";
export { guestEnvDefaults } from "./emulated-cpu.js";
export { chooseAccel } from "./accel.js";
export type { AccelChoice, QemuAccel } from "./accel.js";
export { hostTscKhz } from "./host-tsc.js";
export { guestKernelArgs } from "./kernel-args.js";
export { guestCapabilities } from "./capabilities.js";
export { GuestInstances, guestInstance } from "./instances.js";
export type { GuestEventFiles } from "./instances.js";
export { GuestImages } from "./prepared.js";
export type { GuestBoot, GuestPrepared } from "./prepared.js";
export { quitQemu, vmmPid, VmmHandleData } from "./vmm.js";
export { INCOMING_ARGS, INCOMING_FD, resumeIncoming, snapshotToFile } from "./qmp-migration.js";
export { firstAnswer, GuestSnapshots, tellRestored, versionEnv } from "./snapshots.js";
export type { SnapshotFiles, SnapshotShelf } from "./snapshots.js";
