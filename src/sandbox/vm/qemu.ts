import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import { exec } from "../../system/exec.js";
import { CTL_PORT, EXEC_PORT, guestKernelArgs, INCOMING_ARGS, LOG_PORT, QmpClient, type GuestBoot, type QemuAccel } from "../guest/index.js";
import type { VmMachine } from "./machine.js";

/** The files of an instance's directory, by name. */
export const VM_FILES = {
  pid: "vmm.pid",
  control: "vmm.sock",
  events: "events.sock",
  guestControl: "ctl.sock",
  guestExec: "exec.sock",
  log: "guest.log",
  boot: "boot.log",
  run: "run.img",
  data: "data.img",
  offset: "log.offset",
  outgoing: "outgoing.sock",
} as const;

/** One VM: the guest pipeline's kernel, initramfs and disks, the tap in the instance's netns, the machine. */
export interface VmLaunch extends GuestBoot {
  readonly id: string;
  readonly dir: string;
  /** The instance's scratch disk (ext4, writable), when its machine has one: the guest's vdc. */
  readonly dataDisk?: string;
  readonly machine: VmMachine;
  readonly netnsPath: string;
  readonly tap: string;
  readonly mac: string;
  /** A snapshot to restore instead of booting (the guest stays paused until resumeIncoming()). */
  readonly incoming?: string;
}

const LAUNCH_WAIT_MS = 10_000;

/**
 * Fixed PCI slots, so that the guest sees the disks in the order its init expects (virtio_blk names them
 * in probe order, and PCI probes by slot): the image as vda, the run file as vdb, a data disk as vdc.
 */
const SLOT = { net: 3, root: 4, run: 5, serial: 6, data: 7 } as const;

/**
 * QEMU's argv for a full PC (docs/system/i386/pc.rst, docs/system/devices/virtio-pci): q35 or i440FX with
 * ACPI (so system_powerdown presses the power button), every device virtio-pci at a fixed slot. The PVH
 * kernel is booted by QEMU's own loader (-kernel), as on microvm; the NIC's option ROM is left out (no
 * network boot). The VMM daemonizes with a pid file and a QMP socket, so it outlives the daemon.
 */
export function vmQemuArgv(qemu: string, accel: QemuAccel, vm: VmLaunch, memPath?: string): string[] {
  const f = (name: keyof typeof VM_FILES) => join(vm.dir, VM_FILES[name]);
  const at = (slot: number) => `addr=${slot.toString(16)}`;
  return [
    qemu,
    "-name", `strata-${vm.id},process=strata-vm-${vm.id}`,
    "-M", `${vm.machine.machine},vmport=off,smm=off`,
    "-accel", accel,
    "-cpu", accel === "kvm" ? "host" : "max",
    "-m", `${vm.machine.memoryMb}M`,
    ...(memPath ? ["-mem-path", memPath] : []), // guest RAM on the hugetlbfs pool (guest/hugepages.ts)
    "-smp", String(vm.machine.vcpus),
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-kernel", vm.kernel, "-initrd", vm.initramfs, "-append", vm.cmdline,
    "-serial", `file:${f("boot")}`,
    "-drive", `id=root,file=${vm.rootDisk},format=raw,if=none,readonly=on,cache=unsafe`,
    "-device", `virtio-blk-pci,drive=root,${at(SLOT.root)}`,
    "-drive", `id=run,file=${vm.runDisk},format=raw,if=none,readonly=on`,
    "-device", `virtio-blk-pci,drive=run,${at(SLOT.run)}`,
    ...(vm.dataDisk ? ["-drive", `id=data,file=${vm.dataDisk},format=raw,if=none`, "-device", `virtio-blk-pci,drive=data,${at(SLOT.data)}`] : []),
    "-netdev", `tap,id=net0,ifname=${vm.tap},script=no,downscript=no`,
    "-device", `virtio-net-pci,netdev=net0,mac=${vm.mac},romfile=,${at(SLOT.net)}`,
    "-device", `virtio-serial-pci,${at(SLOT.serial)}`,
    "-chardev", `file,id=log,path=${f("log")}`,
    "-device", `virtserialport,chardev=log,name=${LOG_PORT}`,
    "-chardev", `socket,id=ctl,path=${f("guestControl")},server=on,wait=off`,
    "-device", `virtserialport,chardev=ctl,name=${CTL_PORT}`,
    "-chardev", `socket,id=exec,path=${f("guestExec")},server=on,wait=off`,
    "-device", `virtserialport,chardev=exec,name=${EXEC_PORT}`,
    "-qmp", `unix:${f("control")},server=on,wait=off`,
    "-qmp", `unix:${f("events")},server=on,wait=off`,
    "-pidfile", f("pid"),
    "-daemonize",
    ...(vm.incoming ? INCOMING_ARGS : []),
  ];
}

/** The kernel command line: the shared guest arguments (a PC probes its PCI bus, where its disks are). */
export function vmCmdline(tscKhz: number | undefined): string {
  return guestKernelArgs(tscKhz).join(" ");
}

/**
 * Starts QEMU detached inside the instance's network namespace (where its tap is) and returns its pid once
 * QMP answers and `query-status` says the guest runs (or, restoring, that it waits for the snapshot).
 */
export async function launchVm(qemu: string, accel: QemuAccel, vm: VmLaunch, memPath?: string): Promise<number> {
  // A restore hands QEMU the snapshot file itself: it reads the stream at its own pace.
  const incoming = vm.incoming ? await open(vm.incoming, "r") : undefined;
  try {
    await exec(["nsenter", `--net=${vm.netnsPath}`, "--", ...vmQemuArgv(qemu, accel, vm, memPath)], { timeoutMs: LAUNCH_WAIT_MS, passFds: incoming ? [incoming.fd] : [] });
  } finally {
    await incoming?.close();
  }
  const pid = Number((await readFile(join(vm.dir, VM_FILES.pid), "utf8")).trim());
  if (!(pid > 0)) throw new StrataError("INSTANCE_FAILED", `QEMU wrote no pid for ${vm.id}`);
  const qmp = await QmpClient.connect(join(vm.dir, VM_FILES.control));
  try {
    const status = await qmp.execute("query-status", {});
    if (!status.running && !vm.incoming) throw new StrataError("INSTANCE_FAILED", `QEMU started ${vm.id} but its guest is ${status.status}, not running`);
  } finally {
    qmp.close();
  }
  return pid;
}

/**
 * Presses the guest's ACPI power button (QMP system_powerdown): the guest init sends the app SIGTERM, and
 * the VM ends when the app has exited. False when QEMU's control socket does not answer or closes.
 */
export async function powerdown(dir: string): Promise<boolean> {
  const qmp = await QmpClient.connect(join(dir, VM_FILES.control), 2000).catch(() => null); // no socket: the caller kills
  if (!qmp) return false;
  try {
    // A failed command means QEMU closed its socket: it is ending already, and the caller's clean-up quits it.
    return await qmp.execute("system_powerdown", {}).then(() => true, () => false);
  } finally {
    qmp.close();
  }
}

/**
 * Watches a VM through its own QMP monitor (the events socket; the control socket stays free for
 * commands): `onEnd` is called once when QEMU is gone, with the reason of its last SHUTDOWN event
 * (guest-shutdown, guest-reset, guest-panic, host-signal, host-qmp-quit), if it sent one. Not called
 * after close().
 */
export async function watchVm(dir: string, onEnd: (shutdownReason: string | undefined) => void): Promise<{ close(): void }> {
  const qmp = await QmpClient.connect(join(dir, VM_FILES.events), 2000);
  let reason: string | undefined;
  let closing = false;
  qmp.onEvent((e) => {
    if (e.event === "SHUTDOWN" && typeof e.data?.reason === "string") reason = e.data.reason;
  });
  void qmp.ended().then(() => {
    if (!closing) onEnd(reason);
  });
  return {
    close: () => {
      closing = true;
      qmp.close();
    },
  };
}
