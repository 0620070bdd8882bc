import { SingleFlight } from "../../system/single-flight.js";

import { copyFile, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { createConnection } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import type { HostNetwork } from "../../net/index.js";
import { ignoreMissing, pathExists } from "../../system/fs.js";
import { processExists } from "../../system/process.js";
import type {
  Capabilities, DriverName, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe, SandboxDriver,
} from "../driver.js";
import {
  chooseAccel, encodeControl, guestAssets, GuestLogFollower, GuestSnapshots, GUEST_OVERHEAD_MB, hostTscKhz, lastGuestExit, placeVmm, plumbGuestNet, rootDisk, TAP,
  tellRestored, versionEnv, writeRunDisk, type AccelChoice, type GuestAssets, type GuestControl, type GuestNet, type SnapshotFiles,
} from "../guest/index.js";
import { CgroupV1 } from "../oci/cgroup-v1.js";
import { imageProcess, processFor, type ImageProcess } from "../oci/image-process.js";
import type { ProcessPlan } from "../oci/bundle.js";
import { VM_FILES, type VmmBackend, type VmSpec } from "./backend.js";
import { MicrovmHandleData } from "./handle.js";
import { guestCmdline, QemuBackend } from "./qemu.js";
import { probeMicrovm } from "./probe.js";
import { SnapshotStore } from "./snapshots.js";

export interface MicrovmDriverOptions {
  readonly home: StrataHome;
  /** The one HostNetwork every driver shares: each VM's tap lives in its instance's namespace on the bridge. */
  readonly network: HostNetwork;
  /** The VMM (default: QEMU microvm, on KVM when it works here, else TCG). */
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
  /** For a driver built on this one (kata: an OCI container inside the guest); the microvm workload otherwise. */
  readonly profile?: MicrovmProfile;
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

const CAPABILITIES: Capabilities = Object.freeze({
  isolation: "microvm",
  imageKinds: Object.freeze(["oci"] as const),
  ownNetns: true,
  sharedProcess: false,
  // Memory: the app's cgroup inside the guest (and the guest's RAM). CPU: the VMM's cgroup quota. Pids
  // inside the guest are the guest's business: a fork bomb exhausts the guest, not the host.
  limits: Object.freeze({ memory: true, cpu: true, pids: false }),
  recoverable: true,
  coldStart: "seconds",
});

export interface MicrovmPrepared {
  readonly rootDisk: string;
  readonly image: ImageProcess;
  readonly assets: GuestAssets;
}

type ExitRecord = { code: number; reason: "exited" | "oom-killed" | "killed" | "pids-limit"; error?: string };

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
  private readonly followers = new Map<string, GuestLogFollower>();
  private readonly stopping = new SingleFlight<void>();
  private readonly prepared = new Map<string, Promise<Prepared<MicrovmPrepared>>>();
  private readonly snapshots: GuestSnapshots;
  private accel: Promise<AccelChoice> | undefined;

  constructor(private readonly opts: MicrovmDriverOptions) {
    this.name = opts.profile?.name ?? "microvm";
    this.capabilities = opts.profile?.capabilities ?? CAPABILITIES;
    this.backend = opts.backend ?? new QemuBackend(() => this.chooseAccel());
    this.cgroups = new CgroupV1(this.cgroupParent);
    this.snapshots = new GuestSnapshots(
      new SnapshotStore(join(opts.home.root, "cache", "microvm-snapshots")),
      opts.snapshots === true,
      (line) => opts.onProgress?.(`${this.name}: ${line}`),
    );
  }

  private get cgroupParent(): string {
    return `strata/${this.opts.home.tag}/${this.name}`;
  }

  private get dir(): string {
    return this.opts.home.runtime(this.name);
  }

  private instanceDir(id: string): string {
    return join(this.dir, "instances", id);
  }

  /** KVM when a trial guest runs on it, else TCG; decided once (the verdict is also kept until reboot). */
  private chooseAccel(): Promise<AccelChoice> {
    this.accel ??= guestAssets(this.opts.onProgress).then((a) => chooseAccel("qemu-system-x86_64", a.kernel.vmlinux));
    this.accel.catch(() => (this.accel = undefined));
    return this.accel;
  }

  probe(): Promise<Probe> {
    return probeMicrovm(this.backend);
  }

  async prepare(image: ImageRef, _spec: InstanceSpec): Promise<Prepared<MicrovmPrepared>> {
    if (image.kind !== "oci") throw new StrataError("INVALID_ARGUMENT", `the ${this.name} driver runs OCI images, not ${image.kind}`);
    const key = `${this.name}:${image.path}:${image.ref ?? image.digest}:${image.digest}`;
    let entry = this.prepared.get(key);
    if (!entry) {
      entry = (async () => {
        const disk = await rootDisk(this.opts.home, image.path, image.ref ?? image.digest, this.opts.onProgress);
        const assets = await guestAssets(this.opts.onProgress);
        const proc = await imageProcess(disk.image.config.config, disk.layersTopFirst);
        return { driver: this.name, key, data: { rootDisk: disk.path, image: proc, assets } };
      })();
      this.prepared.set(key, entry);
      entry.catch(() => this.prepared.delete(key)); // retried next time
    }
    return entry;
  }

  async release(prepared: Prepared<MicrovmPrepared>): Promise<void> {
    // The root disk is shared by every version built from that image; the version's snapshots are its own.
    this.prepared.delete(prepared.key);
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
    const proc = processFor(prepared.data.image, spec);
    if (await pathExists(dir)) await this.cleanup(id); // a crashed earlier attempt with this id
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const { netnsPath } = await this.opts.network.attach(id);
      const net = await plumbGuestNet(netnsPath);
      if (this.opts.profile) await this.opts.profile.writeRunDisk(join(dir, VM_FILES.run), { proc, spec, net });
      else await writeRunDisk(join(dir, VM_FILES.run), {
        args: proc.args, env: proc.env, cwd: proc.cwd, uid: proc.uid, gid: proc.gid, hostname: id, memoryMb: spec.limits.memoryMb, net,
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
      };
      let pid: number;
      if (snapshot) {
        await copyFile(snapshot.runDisk, vm.runDisk); // the disk the snapshotted guest knows
        pid = await this.backend.launch({ ...vm, incoming: snapshot.state });
        await placeVmm(this.cgroupParent, id, pid, spec.limits.cpuMillis);
        await this.backend.resume(dir);
        await this.follow(id, io);
        await tellRestored(join(dir, VM_FILES.guestControl), id, net);
      } else {
        pid = await this.backend.launch(vm);
        await placeVmm(this.cgroupParent, id, pid, spec.limits.cpuMillis);
        await this.follow(id, io);
        this.snapshots.whenReady(
          id, prepared.key, snapKey, { host: net.address, port: spec.port }, vm.runDisk,
          (file, signal) => this.backend.snapshot(dir, file, signal), async () => (await this.pidOf(id)) !== undefined,
        );
      }
      const detail = `${await this.backend.detail()}${snapshot ? ", restored" : ""}`;
      const data: MicrovmHandleData = { v: 1, address: net.address, port: spec.port, pid, detail };
      return { id, driver: this.name, endpoint: { host: net.address, port: spec.port }, handle: { id, driver: this.name, data }, detail };
    } catch (err) {
      await this.cleanup(id);
      if (err instanceof StrataError) throw err;
      throw new StrataError("INSTANCE_FAILED", `microVM ${id} did not start: ${(err as Error).message}`, { instanceId: id }, { cause: err });
    }
  }

  stop(instance: Instance, graceMs: number): Promise<void> {
    return this.stopping.run(instance.id, () => this.stopOnce(instance.id, graceMs));
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

  async inspect(instance: Instance): Promise<InstanceState> {
    return this.stateOf(instance.id);
  }

  private async stateOf(id: string): Promise<InstanceState> {
    const pid = await this.pidOf(id);
    const exit = await this.exitRecord(id);
    if (pid && !exit) return { status: "running", ...(await this.cgroups.stats(id)) };
    if (exit) return { status: "exited", code: exit.code, reason: exit.reason };
    if (await pathExists(this.instanceDir(id))) return { status: "exited", code: -1, reason: "killed" }; // the VMM died without a word from the guest
    return { status: "gone" };
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    const id = handle.id;
    const data = MicrovmHandleData.safeParse(handle.data);
    if (data.success && (await this.pidOf(id)) === data.data.pid && !(await this.exitRecord(id))) {
      await this.follow(id, io);
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
    const follower = this.followers.get(id);
    this.followers.delete(id);
    await step(async () => follower?.stop());
    await step(() => this.snapshots.end(id));
    await step(async () => {
      const pid = await this.pidOf(id);
      if (pid) await this.backend.kill(dir, pid);
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

  private async follow(id: string, io: InstanceIO): Promise<void> {
    const dir = this.instanceDir(id);
    const follower = new GuestLogFollower(join(dir, VM_FILES.log), join(dir, "log.offset"), (e) => {
      if (e.t === "log") io.log(e.s, e.l);
      else if (e.t === "exit") void this.onExit(id, e, io);
    });
    this.followers.set(id, follower);
    await follower.start();
  }

  private async onExit(id: string, e: ExitRecord, io: InstanceIO): Promise<void> {
    if (e.error) io.log("stderr", `strata guest: ${e.error}`);
    if (this.stopping.has(id)) return;
    io.exited?.({ status: "exited", code: e.code, reason: e.reason });
  }

  /** The guest's exit, read from the end of its event file (also when no follower runs in this process). */
  private exitRecord(id: string): Promise<ExitRecord | undefined> {
    return lastGuestExit(join(this.instanceDir(id), VM_FILES.log));
  }

  /** Sends one control message to the guest init over its control port. */
  private async control(id: string, msg: GuestControl): Promise<void> {
    const sock = createConnection(join(this.instanceDir(id), VM_FILES.guestControl));
    await new Promise<void>((res, rej) => sock.once("connect", res).once("error", rej));
    await new Promise<void>((res) => sock.end(encodeControl(msg), res));
  }
}
