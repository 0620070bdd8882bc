import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../errors.js";
import { exec, which } from "../../system/exec.js";
import type { Probe } from "../driver.js";
import { CTL_PORT, EXEC_PORT, guestKernelArgs, guestRamSource, INCOMING_ARGS, launchOnHugePages, LOG_PORT, QmpClient, quitQemu, resumeIncoming, snapshotToFile, type AccelChoice } from "../guest/index.js";
import { VM_FILES, type VmmBackend, type VmSpec } from "./backend.js";

const QEMU = "qemu-system-x86_64";
const LAUNCH_WAIT_MS = 10_000;

/**
 * QEMU's argv for a microvm (docs/system/i386/microvm.rst): no PCI, no firmware, no option ROMs; the
 * kernel is booted directly (PVH); disks, NIC and the serial ports (log, control, exec) are virtio-mmio devices. The
 * VMM daemonizes with a pid file and a QMP socket, so it outlives the daemon and is re-adopted by them.
 * `memPath`: a hugetlbfs mount the guest's RAM comes from (guest/hugepages.ts); a migration stream carries
 * RAM by block name, so a snapshot taken with or without it restores either way.
 */
export function qemuArgv(qemu: string, accel: AccelChoice["accel"], vm: VmSpec, memPath?: string): string[] {
  const f = (name: keyof typeof VM_FILES) => join(vm.dir, VM_FILES[name]);
  return [
    qemu,
    "-name", `strata-${vm.id},process=strata-vm-${vm.id}`,
    "-M", "microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on",
    "-accel", accel,
    "-cpu", accel === "kvm" ? "host" : "max",
    "-m", `${vm.memoryMb}M`,
    ...(memPath ? ["-mem-path", memPath] : []),
    "-smp", String(vm.vcpus),
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-kernel", vm.kernel, "-initrd", vm.initramfs, "-append", vm.cmdline,
    "-serial", `file:${vm.bootLog}`,
    "-drive", `id=root,file=${vm.rootDisk},format=raw,if=none,readonly=on,cache=unsafe`,
    "-device", "virtio-blk-device,drive=root",
    "-drive", `id=run,file=${vm.runDisk},format=raw,if=none,readonly=on`,
    "-device", "virtio-blk-device,drive=run",
    "-netdev", `tap,id=net0,ifname=${vm.tap},script=no,downscript=no`,
    "-device", `virtio-net-device,netdev=net0,mac=${vm.mac}`,
    "-device", "virtio-serial-device",
    "-chardev", `file,id=log,path=${vm.logFile}`,
    "-device", `virtserialport,chardev=log,name=${LOG_PORT}`,
    "-chardev", `socket,id=ctl,path=${f("guestControl")},server=on,wait=off`,
    "-device", `virtserialport,chardev=ctl,name=${CTL_PORT}`,
    "-chardev", `socket,id=exec,path=${f("guestExec")},server=on,wait=off`,
    "-device", `virtserialport,chardev=exec,name=${EXEC_PORT}`,
    "-qmp", `unix:${f("control")},server=on,wait=off`,
    "-pidfile", f("pid"),
    "-daemonize",
    // A restore reads the snapshot file from fd 3 (passed by launch()) and stays paused (-S) until resume().
    ...(vm.incoming ? INCOMING_ARGS : []),
  ];
}

/** The kernel command line: the shared guest arguments, with no PCI to probe (microvm has none). */
export function guestCmdline(tscKhz: number | undefined): string {
  return [...guestKernelArgs(tscKhz), "pci=off"].join(" ");
}

export interface QemuBackendOptions {
  /** Guest RAM from the host's hugetlbfs pool when it has room (default true). */
  readonly hugePages?: boolean;
}

export class QemuBackend implements VmmBackend {
  constructor(
    private readonly accel: () => Promise<AccelChoice>,
    private readonly opts: QemuBackendOptions = {},
  ) {}

  async detail(): Promise<string> {
    return `qemu-${(await this.accel()).accel}`;
  }

  async emulatesCpu(): Promise<boolean> {
    return (await this.accel()).accel === "tcg";
  }

  async probe(): Promise<Probe> {
    const qemu = await which(QEMU);
    if (!qemu) return { available: false, reason: `${QEMU} is not installed`, install: ["qemu-system-x86"] };
    const version = (await exec([qemu, "--version"])).stdout.split("\n")[0] ?? "";
    const choice = await this.accel();
    return { available: true, details: { qemu: `${qemu} (${version})`, accel: `${choice.accel} (${choice.why})`, "guest RAM": await guestRamSource(this.opts.hugePages !== false) } };
  }

  async launch(vm: VmSpec): Promise<number> {
    return launchOnHugePages(vm.memoryMb, this.opts.hugePages !== false, (memPath) => this.launchOn(vm, memPath), vm.note);
  }

  private async launchOn(vm: VmSpec, memPath: string | undefined): Promise<number> {
    const qemu = await which(QEMU);
    if (!qemu) throw new StrataError("SANDBOX_UNAVAILABLE", `${QEMU} is not installed (run scripts/setup-host.sh)`);
    const argv = qemuArgv(qemu, (await this.accel()).accel, vm, memPath);
    // The VMM runs in the instance's network namespace, where its tap is. A restore hands QEMU the
    // snapshot file itself: it reads the stream at its own pace, with no copy through this process.
    const incoming = vm.incoming ? await open(vm.incoming, "r") : undefined;
    try {
      await exec(["nsenter", `--net=${vm.netnsPath}`, "--", ...argv], { timeoutMs: LAUNCH_WAIT_MS, passFds: incoming ? [incoming.fd] : [] });
    } finally {
      await incoming?.close();
    }
    const pid = Number((await readFile(join(vm.dir, VM_FILES.pid), "utf8")).trim());
    if (!(pid > 0)) throw new StrataError("INSTANCE_FAILED", `QEMU wrote no pid for ${vm.id}`);
    return pid;
  }

  kill(dir: string, pid: number): Promise<void> {
    return quitQemu(join(dir, VM_FILES.control), pid);
  }

  snapshot(dir: string, file: string, signal: AbortSignal): Promise<void> {
    return snapshotToFile(join(dir, VM_FILES.control), join(dir, "outgoing.sock"), file, signal);
  }

  resume(dir: string): Promise<void> {
    return resumeIncoming(join(dir, VM_FILES.control));
  }
}
