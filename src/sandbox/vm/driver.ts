import { copyFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import type { HostNetwork } from "../../net/index.js";
import { exec, which } from "../../system/exec.js";
import { ignoreMissing, pathExists } from "../../system/fs.js";
import { processExists } from "../../system/process.js";
import type {
  ExecIO, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe, SandboxDriver, SnapshotOutcome,
} from "../driver.js";
import {
  chooseAccel, firstAnswer, guestAssets, guestEnvDefaults, guestCapabilities, GuestExec, GuestImages, guestInstance, GuestInstances, guestKernel, GuestSnapshots, hostTscKhz, launchOnHugePages, placeVmm, plumbGuestNet, quitQemu,
  resumeIncoming, snapshotToFile, TAP, tellRestored, versionEnv, VmmHandleData, vmmPid, writeRunDisk, type AccelChoice, type GuestPrepared, type SnapshotFiles, withHugetlb,
} from "../guest/index.js";
import { SnapshotStore } from "../microvm/index.js";
import { CgroupV1 } from "../oci/cgroup-v1.js";
import { processFor } from "../oci/image-process.js";
import { machineFor } from "./machine.js";
import { probeVm, QEMU } from "./probe.js";
import { launchVm, powerdown, vmCmdline, VM_FILES, watchVm, type VmLaunch } from "./qemu.js";

export interface VmDriverOptions {
  readonly home: StrataHome;
  /** The one HostNetwork every driver shares: each VM's tap lives in its instance's namespace on the bridge. */
  readonly network: HostNetwork;
  /** Streams long first-use work (building the init, making a root disk). */
  readonly onProgress?: (line: string) => void;
  /**
   * Snapshot a version's first ready VM and restore later ones from it instead of booting (config.yaml
   * `vm.snapshots`; default false), as the microvm driver does. A VM with a data disk always boots: its
   * disk is its own, and a snapshot's guest has its first instance's file system mounted.
   */
  readonly snapshots?: boolean;
  /** Guest RAM from the host's hugetlbfs pool while it has room (default true; guest/hugepages.ts says why). */
  readonly hugePages?: boolean;
}

const POLL_MS = 20;
/** Where the scratch disk appears in the app's file system. */
export const DATA_MOUNT = "/data";

const CAPABILITIES = guestCapabilities("vm", { cpu: true, pids: false });

export type VmPrepared = GuestPrepared;

/**
 * Each instance is a full QEMU PC (q35 by default, or i440FX `pc`): ACPI, PCI, every device virtio-pci.
 * What it boots is the guest pipeline microvm boots (sandbox/guest: the image as a read-only ext4 disk,
 * the guest kernel, Strata's init, the run file, the log and control ports), and its NIC is the same
 * tap in the instance's network namespace. QEMU runs detached in a cgroup of its own and is driven over
 * QMP: query-status after launch, system_powerdown (the ACPI power button) for a graceful stop, then quit.
 * The app's output and exit come through the guest's log port, as on microvm.
 */
export class VmDriver implements SandboxDriver<VmPrepared> {
  readonly name = "vm" as const;
  readonly capabilities = CAPABILITIES;

  private readonly cgroups: CgroupV1;
  private readonly instances: GuestInstances;
  private readonly images: GuestImages;
  /** Each running VM's QMP event monitor: it tells of a VMM that ended without the guest's word. */
  private readonly watches = new Map<string, { close(): void }>();
  /** `strata exec` sessions through the guest init's exec port, one at a time per instance. */
  private readonly execs = new GuestExec();
  private readonly snapshots: GuestSnapshots;
  private accel: Promise<AccelChoice> | undefined;

  constructor(private readonly opts: VmDriverOptions) {
    this.cgroups = new CgroupV1(this.cgroupParent);
    this.instances = new GuestInstances(opts.home.runtime("vm"), VM_FILES);
    this.images = new GuestImages(this.name, opts.home, () => guestAssets(opts.onProgress), opts.onProgress);
    this.snapshots = new GuestSnapshots(
      new SnapshotStore(join(opts.home.root, "cache", "vm-snapshots")),
      opts.snapshots === true,
      (line) => opts.onProgress?.(`vm: ${line}`),
    );
  }

  private get cgroupParent(): string {
    return `strata/${this.opts.home.tag}/vm`;
  }

  private instanceDir(id: string): string {
    return this.instances.dir(id);
  }

  /** KVM when microvm's trial guest runs on it (the verdict is kept until reboot), else TCG; decided once. */
  private chooseAccel(): Promise<AccelChoice> {
    this.accel ??= guestKernel().then((k) => chooseAccel(QEMU, k.vmlinux));
    this.accel.catch(() => (this.accel = undefined));
    return this.accel;
  }

  probe(): Promise<Probe> {
    return probeVm(() => this.chooseAccel(), this.opts.hugePages !== false);
  }

  prepare(image: ImageRef, _spec: InstanceSpec): Promise<Prepared<VmPrepared>> {
    return this.images.prepare(image);
  }

  async release(prepared: Prepared<VmPrepared>): Promise<void> {
    // The root disk is shared by every version built from that image; the version's snapshots are its own.
    this.images.release(prepared);
    await this.snapshots.removeVersion(prepared.key);
  }

  async start(prepared: Prepared<VmPrepared>, spec: InstanceSpec, io: InstanceIO): Promise<Instance> {
    const machine = machineFor(spec);
    if (machine.dataDiskMb) return this.launch(prepared, spec, io, undefined, undefined);
    const snapKey = SnapshotStore.key([
      prepared.key, prepared.data.assets.kernel.release, prepared.data.assets.initramfs, machine, spec.app, spec.version,
      spec.command ?? null, spec.port, versionEnv(spec),
    ]);
    return this.snapshots.start(prepared.key, snapKey, spec, io, (snapshot) => this.launch(prepared, spec, io, snapKey, snapshot));
  }

  /**
   * Boots the instance's VM, or restores it from `snapshot`; on failure everything it made is removed. A
   * booted VM with a `snapKey` is snapshotted once it has answered a first request (when snapshots are on).
   */
  private async launch(prepared: Prepared<VmPrepared>, spec: InstanceSpec, io: InstanceIO, snapKey: string | undefined, snapshot: SnapshotFiles | undefined): Promise<Instance> {
    const id = spec.instanceId;
    const dir = this.instanceDir(id);
    const qemu = await which(QEMU);
    if (!qemu) throw new StrataError("SANDBOX_UNAVAILABLE", `${QEMU} is not installed (run scripts/setup-host.sh)`);
    const accel = (await this.chooseAccel()).accel;
    const proc = processFor(prepared.data.image, spec, guestEnvDefaults(accel === "tcg"));
    const machine = machineFor(spec);
    if (await pathExists(dir)) await this.cleanup(id); // a crashed earlier attempt with this id
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const attachment = await this.opts.network.attach(id);
      const { netnsPath } = attachment;
      const net = await plumbGuestNet(attachment);
      const dataDisk = machine.dataDiskMb ? join(dir, VM_FILES.data) : undefined;
      if (dataDisk) await makeDataDisk(dataDisk, machine.dataDiskMb!, proc.uid, proc.gid);
      await writeRunDisk(join(dir, VM_FILES.run), {
        args: proc.args, env: proc.env, cwd: proc.cwd, uid: proc.uid, gid: proc.gid, hostname: id, memoryMb: machine.appMemoryMb, net,
        ...(dataDisk && { dataMount: DATA_MOUNT }),
      });
      const vm: VmLaunch = {
        id, dir, machine,
        kernel: prepared.data.assets.kernel.vmlinux,
        initramfs: prepared.data.assets.initramfs,
        cmdline: vmCmdline(await hostTscKhz()),
        rootDisk: prepared.data.rootDisk,
        runDisk: join(dir, VM_FILES.run),
        ...(dataDisk && { dataDisk }),
        netnsPath, tap: TAP, mac: net.mac,
      };
      if (snapshot) await copyFile(snapshot.runDisk, vm.runDisk); // the disk the snapshotted guest knows
      const launch = { ...vm, ...(snapshot && { incoming: snapshot.state }) };
      const pid = await launchOnHugePages(vm.machine.memoryMb, this.opts.hugePages !== false, (memPath) => launchVm(qemu, accel, launch, memPath), (line) => io.log("stderr", line));
      await placeVmm(this.cgroupParent, id, pid, spec.limits.cpuMillis);
      if (snapshot) await resumeIncoming(join(dir, VM_FILES.control));
      await this.instances.follow(id, io);
      await this.watch(id, io);
      if (snapshot) await tellRestored(join(dir, VM_FILES.guestControl), id, net);
      else if (snapKey) {
        this.snapshots.whenReady(
          id, prepared.key, snapKey, firstAnswer({ host: net.address, port: spec.port }), vm.runDisk,
          (file, signal) => snapshotToFile(join(dir, VM_FILES.control), join(dir, VM_FILES.outgoing), file, signal),
          async () => (await this.pidOf(id)) !== undefined,
        );
      }
      const detail = `qemu-${accel}${snapshot ? ", restored" : ""}`;
      const data: VmmHandleData = { v: 1, address: net.address, port: spec.port, pid, detail };
      return guestInstance({ id, driver: this.name, data }, { host: net.address, port: spec.port }, detail);
    } catch (err) {
      await this.cleanup(id);
      if (err instanceof StrataError) throw err;
      throw new StrataError("INSTANCE_FAILED", `VM ${id} did not start: ${(err as Error).message}`, { instanceId: id }, { cause: err });
    }
  }

  stop(instance: Instance, graceMs: number): Promise<void> {
    return this.instances.stopping.run(instance.id, () => this.stopOnce(instance.id, graceMs));
  }

  /**
   * The ACPI power button, as a PC is shut down: the guest init passes it to the app as SIGTERM and the VM
   * ends when the app has exited. A guest that has not gone by the grace period is quit.
   */
  private async stopOnce(id: string, graceMs: number): Promise<void> {
    const pid = await this.pidOf(id);
    if (pid && graceMs > 0 && (await powerdown(this.instanceDir(id)))) {
      const deadline = Date.now() + graceMs;
      while (processExists(pid) && Date.now() < deadline) await sleep(POLL_MS);
    }
    await this.cleanup(id);
  }

  inspect(instance: Instance): Promise<InstanceState> {
    const id = instance.id;
    // A memory cgroup v1 does not count the huge pages the guest's RAM may be on.
    return this.instances.state(id, async () => (await this.pidOf(id)) !== undefined, async () => withHugetlb(await this.cgroups.stats(id), await this.pidOf(id)));
  }

  /** Through the guest init's exec port (guest/exec-channel.ts): argv runs as the app does, in its root, as its user, with its env. */
  async exec(instance: Instance, argv: readonly string[], io: ExecIO): Promise<number> {
    const id = instance.id;
    if (!(await this.pidOf(id)) || (await this.instances.exitRecord(id))) throw new StrataError("INSTANCE_FAILED", `instance ${id} is not running`, { instanceId: id });
    return this.execs.run(id, join(this.instanceDir(id), VM_FILES.guestExec), argv, io);
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    const id = handle.id;
    const data = VmmHandleData.safeParse(handle.data);
    if (data.success && (await this.pidOf(id)) === data.data.pid && !(await this.instances.exitRecord(id))) {
      await this.instances.follow(id, io);
      // Only one client per QMP monitor: another driver object still watching keeps this one out.
      await this.watch(id, io).catch((err: Error) => io.log("stderr", `strata: not watching VM ${id}'s QMP events (its health checks still find its end): ${err.message}`));
      const { address, port, detail } = data.data;
      return guestInstance({ ...handle, data: data.data }, { host: address, port }, detail);
    }
    await this.cleanup(id);
    return null;
  }

  async sweep(keep: ReadonlySet<string>): Promise<void> {
    await this.instances.sweep(keep, await this.cgroups.listIds(), (id) => this.cleanup(id));
  }

  /** What became of this instance's snapshot (taken once it answered its first request), if one is being taken. */
  snapshotted(instance: Instance): Promise<SnapshotOutcome> | undefined {
    return this.snapshots.outcome(instance.id);
  }

  async close(): Promise<void> {
    await this.snapshots.close();
    for (const w of this.watches.values()) w.close();
    this.watches.clear();
    await this.instances.close();
    await this.cgroups.removeParents();
  }

  /** Everything an instance made: its QMP watch, follower, VMM, cgroup, network and directory. */
  private async cleanup(id: string): Promise<void> {
    this.watches.get(id)?.close();
    this.watches.delete(id);
    await this.instances.cleanup(id, [
      () => this.snapshots.end(id),
      async () => {
        const pid = await this.pidOf(id);
        if (pid) await quitQemu(join(this.instanceDir(id), VM_FILES.control), pid);
      },
      () => this.cgroups.remove(id),
      () => this.opts.network.detach(id),
    ]);
  }

  private pidOf(id: string): Promise<number | undefined> {
    return vmmPid(join(this.instanceDir(id), VM_FILES.pid), this.instanceDir(id));
  }

  private async watch(id: string, io: InstanceIO): Promise<void> {
    const watch = await watchVm(this.instanceDir(id), (reason) => void this.onVmmEnd(id, io, reason));
    this.watches.set(id, watch);
  }

  /**
   * QEMU is gone. When the guest reported the app's end, the follower pushes that; otherwise the VM ended
   * under the app (a guest kernel panic, QEMU killed) and this pushes it, with the console's last lines.
   */
  private async onVmmEnd(id: string, io: InstanceIO, reason: string | undefined): Promise<void> {
    this.watches.delete(id);
    if (this.instances.stopping.has(id) || (await this.instances.exitRecord(id))) return;
    const console = (await readFile(join(this.instanceDir(id), VM_FILES.boot), "utf8").catch(ignoreMissing("")))
      .split("\n").map((l) => l.trim()).filter(Boolean).slice(-3);
    io.log("stderr", `strata: the VM ended before its app did (${reason ? `QEMU SHUTDOWN: ${reason}` : "QEMU exited without a SHUTDOWN event"})${console.length ? `; console: ${console.join(" | ")}` : ""}`);
    io.exited?.({ status: "exited", code: -1, reason: "killed" });
  }
}

/**
 * An empty ext4 file system for an instance's scratch disk, owned by the app's user: a sparse file, its
 * inode tables left for the guest kernel to initialise lazily, so even a large disk is made in a moment.
 */
async function makeDataDisk(path: string, sizeMb: number, uid: number, gid: number): Promise<void> {
  await exec(["mkfs.ext4", "-q", "-F", "-L", "strata-data", "-E", `root_owner=${uid}:${gid},lazy_itable_init=1,lazy_journal_init=1,nodiscard`, path, `${sizeMb}M`], { timeoutMs: 60_000 });
}
