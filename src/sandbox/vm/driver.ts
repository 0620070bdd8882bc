import { copyFile, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import type { HostNetwork } from "../../net/index.js";
import { exec, which } from "../../system/exec.js";
import { ignoreMissing, pathExists } from "../../system/fs.js";
import { processExists } from "../../system/process.js";
import { SingleFlight } from "../../system/single-flight.js";
import type {
  Capabilities, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe, SandboxDriver,
} from "../driver.js";
import {
  chooseAccel, guestAssets, GuestLogFollower, GuestSnapshots, GUEST_MODULES, hostTscKhz, lastGuestExit, placeVmm, plumbGuestNet, resumeIncoming, rootDisk,
  snapshotToFile, TAP, tellRestored, versionEnv, writeRunDisk, type AccelChoice, type GuestAssets, type GuestExit, type SnapshotFiles,
} from "../guest/index.js";
import { SnapshotStore } from "../microvm/index.js";
import { CgroupV1 } from "../oci/cgroup-v1.js";
import { imageProcess, processFor, type ImageProcess } from "../oci/image-process.js";
import { VmHandleData } from "./handle.js";
import { machineFor } from "./machine.js";
import { probeVm, QEMU } from "./probe.js";
import { launchVm, powerdown, quitVm, vmCmdline, VM_FILES, watchVm, type VmLaunch } from "./qemu.js";

/**
 * The guest modules of a PC: microvm's (virtio, overlay) plus the virtio-pci transport, and the ACPI
 * power button with evdev, through which the guest init hears system_powerdown.
 */
export const VM_GUEST_MODULES = [...GUEST_MODULES, "virtio_pci", "button", "evdev"] as const;

export interface VmDriverOptions {
  readonly home: StrataHome;
  /** The one HostNetwork every driver shares: each VM's tap lives in its instance's namespace on the bridge. */
  readonly network: HostNetwork;
  /** Streams long first-use work (building the init, making a root disk). */
  readonly onProgress?: (line: string) => void;
  /** The initramfs's modules (default VM_GUEST_MODULES); the xen tests boot the Xen guest's initramfs so. */
  readonly guestModules?: readonly string[];
  /**
   * Snapshot a version's first ready VM and restore later ones from it instead of booting (config.yaml
   * `vm.snapshots`; default false), as the microvm driver does. A VM with a data disk always boots: its
   * disk is its own, and a snapshot's guest has its first instance's file system mounted.
   */
  readonly snapshots?: boolean;
}

const POLL_MS = 20;
/** Where the scratch disk appears in the app's file system. */
export const DATA_MOUNT = "/data";

const CAPABILITIES: Capabilities = Object.freeze({
  isolation: "vm",
  imageKinds: Object.freeze(["oci"] as const),
  ownNetns: true,
  sharedProcess: false,
  // Memory: the app's cgroup inside the guest (and the guest's RAM). CPU: the VMM's cgroup quota. Pids
  // inside the guest are the guest's own: a fork bomb exhausts the guest, not the host.
  limits: Object.freeze({ memory: true, cpu: true, pids: false }),
  recoverable: true,
  coldStart: "seconds",
});

export interface VmPrepared {
  readonly rootDisk: string;
  readonly image: ImageProcess;
  readonly assets: GuestAssets;
}

/**
 * Each instance is a full QEMU PC (q35 by default, or i440FX `pc`): ACPI, PCI, every device virtio-pci.
 * What it boots is the guest pipeline microvm boots (sandbox/guest: the image as a read-only ext4 disk,
 * Debian's cloud kernel, Strata's init, the run file, the log and control ports), and its NIC is the same
 * tap in the instance's network namespace. QEMU runs detached in a cgroup of its own and is driven over
 * QMP: query-status after launch, system_powerdown (the ACPI power button) for a graceful stop, then quit.
 * The app's output and exit come through the guest's log port, as on microvm.
 */
export class VmDriver implements SandboxDriver<VmPrepared> {
  readonly name = "vm" as const;
  readonly capabilities = CAPABILITIES;

  private readonly cgroups: CgroupV1;
  private readonly followers = new Map<string, GuestLogFollower>();
  /** Each running VM's QMP event monitor: it tells of a VMM that ended without the guest's word. */
  private readonly watches = new Map<string, { close(): void }>();
  private readonly stopping = new SingleFlight<void>();
  private readonly prepared = new Map<string, Promise<Prepared<VmPrepared>>>();
  private readonly snapshots: GuestSnapshots;
  private accel: Promise<AccelChoice> | undefined;

  constructor(private readonly opts: VmDriverOptions) {
    this.cgroups = new CgroupV1(this.cgroupParent);
    this.snapshots = new GuestSnapshots(
      new SnapshotStore(join(opts.home.root, "cache", "vm-snapshots")),
      opts.snapshots === true,
      (line) => opts.onProgress?.(`vm: ${line}`),
    );
  }

  private get cgroupParent(): string {
    return `strata/${this.opts.home.tag}/vm`;
  }

  private get dir(): string {
    return this.opts.home.runtime("vm");
  }

  private instanceDir(id: string): string {
    return join(this.dir, "instances", id);
  }

  private assets(): Promise<GuestAssets> {
    return guestAssets(this.opts.onProgress, undefined, undefined, this.opts.guestModules ?? VM_GUEST_MODULES);
  }

  /** KVM when microvm's trial guest runs on it (the verdict is kept until reboot), else TCG; decided once. */
  private chooseAccel(): Promise<AccelChoice> {
    this.accel ??= this.assets().then((a) => chooseAccel(QEMU, a.kernel.vmlinux));
    this.accel.catch(() => (this.accel = undefined));
    return this.accel;
  }

  probe(): Promise<Probe> {
    return probeVm(() => this.chooseAccel());
  }

  async prepare(image: ImageRef, _spec: InstanceSpec): Promise<Prepared<VmPrepared>> {
    if (image.kind !== "oci") throw new StrataError("INVALID_ARGUMENT", `the vm driver runs OCI images, not ${image.kind}`);
    const key = `vm:${image.path}:${image.ref ?? image.digest}:${image.digest}`;
    let entry = this.prepared.get(key);
    if (!entry) {
      entry = (async () => {
        const disk = await rootDisk(this.opts.home, image.path, image.ref ?? image.digest, this.opts.onProgress);
        const assets = await this.assets();
        const proc = await imageProcess(disk.image.config.config, disk.layersTopFirst);
        return { driver: this.name, key, data: { rootDisk: disk.path, image: proc, assets } };
      })();
      this.prepared.set(key, entry);
      entry.catch(() => this.prepared.delete(key)); // retried next time
    }
    return entry;
  }

  async release(prepared: Prepared<VmPrepared>): Promise<void> {
    // The root disk is shared by every version built from that image; the version's snapshots are its own.
    this.prepared.delete(prepared.key);
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
    const proc = processFor(prepared.data.image, spec);
    const machine = machineFor(spec);
    const qemu = await which(QEMU);
    if (!qemu) throw new StrataError("SANDBOX_UNAVAILABLE", `${QEMU} is not installed (run scripts/setup-host.sh)`);
    if (await pathExists(dir)) await this.cleanup(id); // a crashed earlier attempt with this id
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const { netnsPath } = await this.opts.network.attach(id);
      const net = await plumbGuestNet(netnsPath);
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
      const accel = (await this.chooseAccel()).accel;
      if (snapshot) await copyFile(snapshot.runDisk, vm.runDisk); // the disk the snapshotted guest knows
      const pid = await launchVm(qemu, accel, { ...vm, ...(snapshot && { incoming: snapshot.state }) });
      await placeVmm(this.cgroupParent, id, pid, spec.limits.cpuMillis);
      if (snapshot) await resumeIncoming(join(dir, VM_FILES.control));
      await this.follow(id, io);
      await this.watch(id, io);
      if (snapshot) await tellRestored(join(dir, VM_FILES.guestControl), id, net);
      else if (snapKey) {
        this.snapshots.whenReady(
          id, prepared.key, snapKey, { host: net.address, port: spec.port }, vm.runDisk,
          (file, signal) => snapshotToFile(join(dir, VM_FILES.control), join(dir, VM_FILES.outgoing), file, signal),
          async () => (await this.pidOf(id)) !== undefined,
        );
      }
      const detail = `qemu-${accel}${snapshot ? ", restored" : ""}`;
      const data: VmHandleData = { v: 1, address: net.address, port: spec.port, pid, detail };
      return { id, driver: this.name, endpoint: { host: net.address, port: spec.port }, handle: { id, driver: this.name, data }, detail };
    } catch (err) {
      await this.cleanup(id);
      if (err instanceof StrataError) throw err;
      throw new StrataError("INSTANCE_FAILED", `VM ${id} did not start: ${(err as Error).message}`, { instanceId: id }, { cause: err });
    }
  }

  stop(instance: Instance, graceMs: number): Promise<void> {
    return this.stopping.run(instance.id, () => this.stopOnce(instance.id, graceMs));
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

  async inspect(instance: Instance): Promise<InstanceState> {
    const id = instance.id;
    const pid = await this.pidOf(id);
    const exit = await this.exitRecord(id);
    if (pid && !exit) return { status: "running", ...(await this.cgroups.stats(id)) };
    if (exit) return { status: "exited", code: exit.code, reason: exit.reason };
    if (await pathExists(this.instanceDir(id))) return { status: "exited", code: -1, reason: "killed" }; // the VMM died without a word from the guest
    return { status: "gone" };
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    const id = handle.id;
    const data = VmHandleData.safeParse(handle.data);
    if (data.success && (await this.pidOf(id)) === data.data.pid && !(await this.exitRecord(id))) {
      await this.follow(id, io);
      // Only one client per QMP monitor: another driver object still watching keeps this one out.
      await this.watch(id, io).catch((err: Error) => io.log("stderr", `strata: not watching VM ${id}'s QMP events (its health checks still find its end): ${err.message}`));
      const { address, port, detail } = data.data;
      return { id, driver: this.name, endpoint: { host: address, port }, handle: { ...handle, data: data.data }, detail };
    }
    await this.cleanup(id);
    return null;
  }

  async sweep(keep: ReadonlySet<string>): Promise<void> {
    const ids = new Set<string>(await this.cgroups.listIds());
    for (const e of await readdir(join(this.dir, "instances"), { withFileTypes: true }).catch(ignoreMissing([]))) {
      if (e.isDirectory()) ids.add(e.name);
    }
    for (const id of ids) if (!keep.has(id)) await this.cleanup(id);
  }

  async close(): Promise<void> {
    await this.snapshots.close();
    for (const w of this.watches.values()) w.close();
    this.watches.clear();
    for (const f of this.followers.values()) await f.stop();
    this.followers.clear();
    await this.cgroups.removeParents();
  }

  /** Everything an instance made, each step tolerating its absence; the first failure is thrown at the end. */
  private async cleanup(id: string): Promise<void> {
    const dir = this.instanceDir(id);
    const failures: unknown[] = [];
    const step = async (run: () => Promise<unknown>) => {
      await run().catch((err: unknown) => void failures.push(err));
    };
    this.watches.get(id)?.close();
    this.watches.delete(id);
    const follower = this.followers.get(id);
    this.followers.delete(id);
    await step(async () => follower?.stop());
    await step(() => this.snapshots.end(id));
    await step(async () => {
      const pid = await this.pidOf(id);
      if (pid) await quitVm(dir, pid);
    });
    await step(() => this.cgroups.remove(id));
    await step(() => this.opts.network.detach(id));
    if (failures.length === 0) await step(() => rm(dir, { recursive: true, force: true }));
    if (failures.length) throw failures[0];
  }

  /** The VMM's pid while that process runs and is this instance's VMM (pids are reused). */
  private async pidOf(id: string): Promise<number | undefined> {
    const pid = Number(await readFile(join(this.instanceDir(id), VM_FILES.pid), "utf8").catch(ignoreMissing("")));
    if (!(pid > 0) || !processExists(pid)) return undefined;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(ignoreMissing(""));
    return cmdline.includes(this.instanceDir(id)) ? pid : undefined;
  }

  private exitRecord(id: string): Promise<GuestExit | undefined> {
    return lastGuestExit(join(this.instanceDir(id), VM_FILES.log));
  }

  private async follow(id: string, io: InstanceIO): Promise<void> {
    const dir = this.instanceDir(id);
    const follower = new GuestLogFollower(join(dir, VM_FILES.log), join(dir, VM_FILES.offset), (e) => {
      if (e.t === "log") io.log(e.s, e.l);
      else if (e.t === "exit") this.onExit(id, e, io);
    });
    this.followers.set(id, follower);
    await follower.start();
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
    if (this.stopping.has(id) || (await this.exitRecord(id))) return;
    const console = (await readFile(join(this.instanceDir(id), VM_FILES.boot), "utf8").catch(ignoreMissing("")))
      .split("\n").map((l) => l.trim()).filter(Boolean).slice(-3);
    io.log("stderr", `strata: the VM ended before its app did (${reason ? `QEMU SHUTDOWN: ${reason}` : "QEMU exited without a SHUTDOWN event"})${console.length ? `; console: ${console.join(" | ")}` : ""}`);
    io.exited?.({ status: "exited", code: -1, reason: "killed" });
  }

  private onExit(id: string, e: GuestExit, io: InstanceIO): void {
    if (e.error) io.log("stderr", `strata guest: ${e.error}`);
    if (this.stopping.has(id)) return;
    io.exited?.({ status: "exited", code: e.code, reason: e.reason });
  }
}

/**
 * An empty ext4 file system for an instance's scratch disk, owned by the app's user: a sparse file, its
 * inode tables left for the guest kernel to initialise lazily, so even a large disk is made in a moment.
 */
async function makeDataDisk(path: string, sizeMb: number, uid: number, gid: number): Promise<void> {
  await exec(["mkfs.ext4", "-q", "-F", "-L", "strata-data", "-E", `root_owner=${uid}:${gid},lazy_itable_init=1,lazy_journal_init=1,nodiscard`, path, `${sizeMb}M`], { timeoutMs: 60_000 });
}
