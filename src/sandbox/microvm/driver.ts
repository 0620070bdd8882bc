import { copyFile, mkdir } from "node:fs/promises";
import { createConnection } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import type { HostNetwork } from "../../net/index.js";
import { pathExists } from "../../system/fs.js";
import { processExists } from "../../system/process.js";
import type {
  Capabilities, DriverName, ExecIO, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe, SandboxDriver, SnapshotOutcome,
} from "../driver.js";
import {
  chooseAccel, encodeControl, firstAnswer, guestAssets, guestEnvDefaults, guestCapabilities, GuestExec, GuestImages, guestInstance, GuestInstances, guestKernel, GuestSnapshots, GUEST_OVERHEAD_MB, hostTscKhz, placeVmm, plumbGuestNet, TAP,
  tellRestored, versionEnv, VmmHandleData, vmmPid, writeRunDisk, type AccelChoice, type GuestControl, type GuestNet, type GuestPrepared, type SnapshotFiles, withHugetlb,
} from "../guest/index.js";
import { CgroupV1 } from "../oci/cgroup-v1.js";
import { processFor } from "../oci/image-process.js";
import type { ProcessPlan } from "../oci/bundle.js";
import { VM_FILES, type VmmBackend, type VmSpec } from "./backend.js";
import { guestCmdline, QemuBackend } from "./qemu.js";
import { probeMicrovm } from "./probe.js";
import { ChosenBackend } from "./select.js";
import { FirecrackerBackend } from "./firecracker/backend.js";
import { DEFAULT_SNAPSHOT_DISK_MB, SnapshotStore } from "./snapshots.js";
import { ReadyCalls } from "./ready-calls.js";

export interface MicrovmDriverOptions {
  readonly home: StrataHome;
  /** The one HostNetwork every driver shares: each VM's tap lives in its instance's namespace on the bridge. */
  readonly network: HostNetwork;
  /** The VMM (default: Firecracker when it runs here, else QEMU microvm, on KVM when it works here, else TCG). */
  readonly backend?: VmmBackend;
  /** Streams long first-use work (building the init, making a root disk). */
  readonly onProgress?: (line: string) => void;
  /**
   * Snapshot a version's first ready instance and restore later instances from it instead of booting
   * (config.yaml `microvm.snapshots`; default false). A restored guest keeps the first instance's process
   * memory and environment (as Lambda SnapStart does); its network, hostname, clock and kernel entropy
   * are its own (the guest init resets them when the host says it was restored).
   */
  readonly snapshots?: boolean;
  /** What this driver's snapshots may take on disk, MiB (default DEFAULT_SNAPSHOT_DISK_MB); least recently used go first. */
  readonly snapshotDiskMb?: number;
  /** For a driver built on this one (kata: an OCI container inside the guest); the microvm workload otherwise. */
  readonly profile?: MicrovmProfile;
  /** Guest RAM from the host's hugetlbfs pool while it has room (default true; guest/hugepages.ts says why). */
  readonly hugePages?: boolean;
}

/** What a driver built on the microvm lifecycle changes: its name, capabilities and what the guest runs. */
export interface MicrovmProfile {
  readonly name: DriverName;
  readonly capabilities: Capabilities;
  /** Appended to the guest kernel's command line (the init's mode). */
  readonly kernelArgs: readonly string[];
  /** Writes the run disk the guest init reads (instead of the microvm RunFile). */
  writeRunDisk(path: string, run: { proc: ProcessPlan; spec: InstanceSpec; net: GuestNet }): Promise<void>;
}

const POLL_MS = 20;
/** Where a function's runtime finds the Runtime API inside the guest (Lambda's own value), relayed to the daemon's. */
const GUEST_RUNTIME_API = "127.0.0.1:9001";

const CAPABILITIES = guestCapabilities("microvm", { cpu: true, pids: false });

export type MicrovmPrepared = GuestPrepared;

/**
 * Each instance is a microVM: the image as a read-only root disk, Strata's guest init (sandbox/guest), the
 * NIC as a tap inside the instance's own network namespace on the Strata bridge. The VMM runs detached,
 * in a cgroup of its own, and is re-adopted after a daemon restart by its pid and control socket. The
 * guest's stdout/stderr and its exit arrive as JSON lines in a file the VMM appends to (the log port).
 */
export class MicrovmDriver implements SandboxDriver<MicrovmPrepared> {
  readonly name: DriverName;
  readonly capabilities: Capabilities;

  private readonly backend: VmmBackend;
  private readonly cgroups: CgroupV1;
  private readonly instances: GuestInstances;
  private readonly images: GuestImages;
  private readonly snapshots: GuestSnapshots;
  /** `strata exec` sessions through the guest init's exec port, one at a time per instance. */
  private readonly execs = new GuestExec();
  /** Function instances whose snapshot waits for the scheduler's ready() (their runtime listens on nothing). */
  private readonly readyCalls = new ReadyCalls();
  private accel: Promise<AccelChoice> | undefined;

  constructor(private readonly opts: MicrovmDriverOptions) {
    this.name = opts.profile?.name ?? "microvm";
    this.capabilities = opts.profile?.capabilities ?? CAPABILITIES;
    const kvmRuns = async () => (await this.chooseAccel()).accel === "kvm";
    this.backend = opts.backend ?? new ChosenBackend(new FirecrackerBackend(kvmRuns), new QemuBackend(() => this.chooseAccel(), { hugePages: opts.hugePages }));
    this.cgroups = new CgroupV1(this.cgroupParent);
    this.instances = new GuestInstances(opts.home.runtime(this.name), VM_FILES);
    this.images = new GuestImages(this.name, opts.home, () => guestAssets(opts.onProgress), opts.onProgress);
    this.snapshots = new GuestSnapshots(
      new SnapshotStore(join(opts.home.root, "cache", "microvm-snapshots"), (opts.snapshotDiskMb ?? DEFAULT_SNAPSHOT_DISK_MB) * 1024 * 1024),
      opts.snapshots === true,
      (line) => opts.onProgress?.(`${this.name}: ${line}`),
    );
  }

  private get cgroupParent(): string {
    return `strata/${this.opts.home.tag}/${this.name}`;
  }

  private instanceDir(id: string): string {
    return this.instances.dir(id);
  }

  /** KVM when a trial guest runs on it, else TCG; decided once (the verdict is also kept until reboot). */
  private chooseAccel(): Promise<AccelChoice> {
    this.accel ??= guestKernel().then((k) => chooseAccel("qemu-system-x86_64", k.vmlinux));
    this.accel.catch(() => (this.accel = undefined));
    return this.accel;
  }

  probe(): Promise<Probe> {
    return probeMicrovm(this.backend);
  }

  prepare(image: ImageRef, _spec: InstanceSpec): Promise<Prepared<MicrovmPrepared>> {
    return this.images.prepare(image);
  }

  async release(prepared: Prepared<MicrovmPrepared>): Promise<void> {
    // The root disk is shared by every version built from that image; the version's snapshots are its own.
    this.images.release(prepared);
    await this.snapshots.removeVersion(prepared.key);
  }

  async start(prepared: Prepared<MicrovmPrepared>, spec: InstanceSpec, io: InstanceIO): Promise<Instance> {
    const snapKey = SnapshotStore.key([
      prepared.key, prepared.data.assets.kernel.release, prepared.data.assets.initramfs, spec.limits.memoryMb, spec.app, spec.version,
      spec.command ?? null, spec.port, versionEnv(spec),
    ]);
    return this.snapshots.start(prepared.key, snapKey, spec, io, (snapshot) => this.launch(prepared, spec, io, snapKey, snapshot));
  }

  /** Boots the instance's VM, or restores it from `snapshot`; on failure everything it made is removed. */
  private async launch(prepared: Prepared<MicrovmPrepared>, spec: InstanceSpec, io: InstanceIO, snapKey: string, snapshot: SnapshotFiles | undefined): Promise<Instance> {
    const id = spec.instanceId;
    const dir = this.instanceDir(id);
    const proc = processFor(prepared.data.image, spec, guestEnvDefaults(await this.backend.emulatesCpu()));
    if (await pathExists(dir)) await this.cleanup(id); // a crashed earlier attempt with this id
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const attachment = await this.opts.network.attach(id);
      const { netnsPath } = attachment;
      const net = await plumbGuestNet(attachment);
      if (this.opts.profile) await this.opts.profile.writeRunDisk(join(dir, VM_FILES.run), { proc, spec, net });
      else await writeRunDisk(join(dir, VM_FILES.run), {
        args: proc.args, env: relayedEnv(proc.env, spec), cwd: proc.cwd, uid: proc.uid, gid: proc.gid, hostname: id, memoryMb: spec.limits.memoryMb, net,
        ...(spec.runtimeApi !== undefined && { runtimeApi: { listen: GUEST_RUNTIME_API, upstream: spec.runtimeApi } }),
      });
      const vm: VmSpec = {
        id, dir,
        kernel: prepared.data.assets.kernel.vmlinux,
        initramfs: prepared.data.assets.initramfs,
        cmdline: [guestCmdline(await hostTscKhz()), ...(this.opts.profile?.kernelArgs ?? [])].join(" "),
        rootDisk: prepared.data.rootDisk,
        runDisk: join(dir, VM_FILES.run),
        memoryMb: spec.limits.memoryMb + GUEST_OVERHEAD_MB,
        vcpus: 1,
        netnsPath, tap: TAP, mac: net.mac,
        logFile: join(dir, VM_FILES.log),
        bootLog: join(dir, VM_FILES.boot),
        note: (line) => io.log("stderr", line),
      };
      let pid: number;
      if (snapshot) {
        await copyFile(snapshot.runDisk, vm.runDisk); // the disk the snapshotted guest knows
        pid = await this.backend.launch({ ...vm, incoming: snapshot.state });
        await placeVmm(this.cgroupParent, id, pid, spec.limits.cpuMillis);
        await this.backend.resume(dir);
        await this.instances.follow(id, io);
        await tellRestored(join(dir, VM_FILES.guestControl), id, net);
      } else {
        pid = await this.backend.launch(vm);
        await placeVmm(this.cgroupParent, id, pid, spec.limits.cpuMillis);
        await this.instances.follow(id, io);
        // An app is snapshotted once it has answered a first request; a function (which listens on nothing)
        // once the scheduler reports its runtime waiting for work, before it gets any (ready()).
        const endpoint = { host: net.address, port: spec.port };
        const warmedUp = spec.runtimeApi === undefined || this.opts.profile ? firstAnswer(endpoint) : (signal: AbortSignal) => this.readyCalls.wait(id, signal);
        this.snapshots.whenReady(
          id, prepared.key, snapKey, warmedUp, vm.runDisk,
          (file, signal) => this.backend.snapshot(dir, file, signal), async () => (await this.pidOf(id)) !== undefined,
        );
      }
      const detail = `${await this.backend.detail()}${snapshot ? ", restored" : ""}`;
      const data: VmmHandleData = { v: 1, address: net.address, port: spec.port, pid, detail };
      return { ...guestInstance({ id, driver: this.name, data }, { host: net.address, port: spec.port }, detail), ...(snapshot && { restored: true }) };
    } catch (err) {
      await this.cleanup(id);
      if (err instanceof StrataError) throw err;
      throw new StrataError("INSTANCE_FAILED", `microVM ${id} did not start: ${(err as Error).message}`, { instanceId: id }, { cause: err });
    }
  }

  stop(instance: Instance, graceMs: number): Promise<void> {
    return this.instances.stopping.run(instance.id, () => this.stopOnce(instance.id, graceMs));
  }

  private async stopOnce(id: string, graceMs: number): Promise<void> {
    const pid = await this.pidOf(id);
    if (pid && graceMs > 0) {
      // The guest init passes SIGTERM to the app; the VM ends itself when the app has exited.
      const sent = await this.control(id, { t: "signal", sig: 15 }).then(() => true, () => false); // no channel: killed below
      const deadline = Date.now() + graceMs;
      while (sent && processExists(pid) && Date.now() < deadline) await sleep(POLL_MS);
    }
    await this.cleanup(id);
  }

  inspect(instance: Instance): Promise<InstanceState> {
    const id = instance.id;
    // A memory cgroup v1 does not count the huge pages the guest's RAM may be on.
    return this.instances.state(id, async () => (await this.pidOf(id)) !== undefined, async () => withHugetlb(await this.cgroups.stats(id), await this.pidOf(id)));
  }

  /**
   * Through the guest init's exec port (guest/exec-channel.ts): the init runs argv as it runs the app
   * (microvm: in the app's root, as its user, in its working dir, with its env and cgroup; kata: inside
   * the container's namespaces, as Kata's ExecProcess).
   */
  async exec(instance: Instance, argv: readonly string[], io: ExecIO): Promise<number> {
    const id = instance.id;
    if (!(await this.pidOf(id)) || (await this.instances.exitRecord(id))) throw new StrataError("INSTANCE_FAILED", `instance ${id} is not running`, { instanceId: id });
    return this.execs.run(id, join(this.instanceDir(id), VM_FILES.guestExec), argv, io);
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    const id = handle.id;
    const data = VmmHandleData.safeParse(handle.data);
    if (data.success && (await this.pidOf(id)) === data.data.pid && !(await this.instances.exitRecord(id))) {
      await this.backend.adopt?.(this.instanceDir(id), data.data.pid);
      await this.instances.follow(id, io);
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
    await this.backend.close?.();
    await this.instances.close();
    await this.cgroups.removeParents();
  }

  /** Everything an instance made: its follower, snapshot task, VMM, cgroup, network and directory. */
  private async cleanup(id: string): Promise<void> {
    await this.instances.cleanup(id, [
      () => this.snapshots.end(id),
      async () => {
        const pid = await this.pidOf(id);
        if (pid) await this.backend.kill(this.instanceDir(id), pid);
      },
      () => this.cgroups.remove(id),
      () => this.opts.network.detach(id),
    ]);
  }

  private pidOf(id: string): Promise<number | undefined> {
    return vmmPid(join(this.instanceDir(id), VM_FILES.pid), this.instanceDir(id));
  }

  /**
   * The scheduler found the instance ready: a function instance whose snapshot waits for this is
   * snapshotted now, before its first invocation (the guest pauses for the migration), and this returns
   * once the snapshot is written or has failed.
   */
  async ready(instance: Instance): Promise<void> {
    if (this.readyCalls.ready(instance.id)) await this.snapshots.settled(instance.id);
  }

  /** Sends one control message to the guest init over its control port. */
  private async control(id: string, msg: GuestControl): Promise<void> {
    const sock = createConnection(join(this.instanceDir(id), VM_FILES.guestControl));
    await new Promise<void>((res, rej) => sock.once("connect", res).once("error", rej));
    await new Promise<void>((res) => sock.end(encodeControl(msg), res));
  }
}

/**
 * A function's environment as its runtime sees it in the guest: AWS_LAMBDA_RUNTIME_API names the init's
 * relay (127.0.0.1:9001, as in Lambda), whose connection survives a snapshot restore and a daemon restart.
 */
function relayedEnv(env: readonly string[], spec: InstanceSpec): string[] {
  if (spec.runtimeApi === undefined) return [...env];
  return env.map((kv) => (kv.startsWith("AWS_LAMBDA_RUNTIME_API=") ? `AWS_LAMBDA_RUNTIME_API=${GUEST_RUNTIME_API}` : kv));
}
