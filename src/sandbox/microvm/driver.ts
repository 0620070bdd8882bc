import { SingleFlight } from "../../system/single-flight.js";

import { randomBytes } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { connect, createConnection } from "node:net";
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
  chooseAccel, encodeControl, guestAssets, GuestLogFollower, GUEST_OVERHEAD_MB, hostTscKhz, lastGuestExit, placeVmm, plumbGuestNet, rootDisk, TAP, writeRunDisk,
  type AccelChoice, type GuestAssets, type GuestControl, type GuestNet,
} from "../guest/index.js";
import { CgroupV1 } from "../oci/cgroup-v1.js";
import { imageProcess, processFor, type ImageProcess } from "../oci/image-process.js";
import type { ProcessPlan } from "../oci/bundle.js";
import { VM_FILES, type VmmBackend, type VmSpec } from "./backend.js";
import { MicrovmHandleData } from "./handle.js";
import { guestCmdline, QemuBackend } from "./qemu.js";
import { probeMicrovm } from "./probe.js";
import { SnapshotStore, type Snapshot } from "./snapshots.js";
import { ReadyCalls } from "./ready-calls.js";

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
/** How long a snapshot waits for the first instance to listen (its readiness budget, READY_BUDGET_MS). */
const SNAPSHOT_READY_MS = 120_000;
const RESTORE_ACK_MS = 10_000;
/** Where a function's runtime finds the Runtime API inside the guest (Lambda's own value), relayed to the daemon's. */
const GUEST_RUNTIME_API = "127.0.0.1:9001";

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
  private readonly snapshots: SnapshotStore;
  /** Snapshot keys being taken now. */
  private readonly snapshotting = new Set<string>();
  /** The background snapshot task of each instance: cleanup() and close() abort it and wait for its end. */
  private readonly snapshotTasks = new Map<string, { abort: AbortController; done: Promise<void> }>();
  /** Function instances whose snapshot waits for the scheduler's ready() (their runtime listens on nothing). */
  private readonly readyCalls = new ReadyCalls();
  private accel: Promise<AccelChoice> | undefined;
  /** Set by close(): no background snapshot starts after it (a start() still in flight may finish). */
  private closed = false;

  constructor(private readonly opts: MicrovmDriverOptions) {
    this.name = opts.profile?.name ?? "microvm";
    this.capabilities = opts.profile?.capabilities ?? CAPABILITIES;
    this.backend = opts.backend ?? new QemuBackend(() => this.chooseAccel());
    this.cgroups = new CgroupV1(this.cgroupParent);
    this.snapshots = new SnapshotStore(join(opts.home.root, "cache", "microvm-snapshots"));
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
    const snapshot = this.opts.snapshots === true ? await this.snapshots.get(prepared.key, snapKey) : undefined;
    if (snapshot) {
      try {
        return await this.launch(prepared, spec, io, snapKey, snapshot);
      } catch (err) {
        // A snapshot this QEMU or kernel cannot resume costs this start its speed, not the start itself.
        io.log("stderr", `strata: restoring ${spec.instanceId} from its version's snapshot failed (${(err as Error).message}); booting it instead`);
        await this.snapshots.remove(prepared.key, snapKey);
      }
    }
    return this.launch(prepared, spec, io, snapKey, undefined);
  }

  /** Boots the instance's VM, or restores it from `snapshot`; on failure everything it made is removed. */
  private async launch(prepared: Prepared<MicrovmPrepared>, spec: InstanceSpec, io: InstanceIO, snapKey: string, snapshot: Snapshot | undefined): Promise<Instance> {
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
      };
      let pid: number;
      if (snapshot) {
        await copyFile(snapshot.runDisk, vm.runDisk); // the disk the snapshotted guest knows
        pid = await this.backend.launch({ ...vm, incoming: snapshot.state });
        await placeVmm(this.cgroupParent, id, pid, spec.limits.cpuMillis);
        await this.backend.resume(dir);
        await this.follow(id, io);
        await this.tellRestored(id, net);
      } else {
        pid = await this.backend.launch(vm);
        await placeVmm(this.cgroupParent, id, pid, spec.limits.cpuMillis);
        await this.follow(id, io);
        if (this.opts.snapshots === true) {
          const endpoint = { host: net.address, port: spec.port };
          // An app is snapshotted once it listens; a function (which listens on nothing) once the scheduler
          // reports its runtime waiting for work, before it gets any (ready()).
          const ready = spec.runtimeApi === undefined || this.opts.profile
            ? (signal: AbortSignal) => waitListening(endpoint, SNAPSHOT_READY_MS, signal)
            : (signal: AbortSignal) => this.readyCalls.wait(id, signal);
          this.snapshotWhenReady(id, prepared.key, snapKey, ready, vm.runDisk);
        }
      }
      const detail = `${await this.backend.detail()}${snapshot ? ", restored" : ""}`;
      const data: MicrovmHandleData = { v: 1, address: net.address, port: spec.port, pid, detail };
      return { id, driver: this.name, endpoint: { host: net.address, port: spec.port }, handle: { id, driver: this.name, data }, detail, ...(snapshot && { restored: true }) };
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
    this.closed = true;
    for (const id of [...this.snapshotTasks.keys()]) await this.endSnapshotTask(id);
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
    await step(() => this.endSnapshotTask(id));
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

  /**
   * In the background: once the first instance of a version listens, snapshot it (a pause of about a
   * second) so later starts restore. One snapshot per key at a time; a failure only costs later starts
   * their speed, so it is logged to the instance, not thrown.
   */
  private snapshotWhenReady(id: string, preparedKey: string, key: string, ready: (signal: AbortSignal) => Promise<boolean>, runDisk: string): void {
    if (this.snapshotting.has(key) || this.closed) return;
    this.snapshotting.add(key);
    const abort = new AbortController();
    const done = (async () => {
      if (!(await ready(abort.signal))) return;
      if ((await this.snapshots.get(preparedKey, key)) || !(await this.pidOf(id))) return;
      await this.snapshots.put(preparedKey, key, runDisk, (file) => this.backend.snapshot(this.instanceDir(id), file, abort.signal));
    })()
      .catch((err: Error) => {
        if (!abort.signal.aborted) this.opts.onProgress?.(`microvm: no snapshot of ${id}: ${err.message}`);
      })
      .finally(() => {
        this.snapshotting.delete(key);
        this.snapshotTasks.delete(id);
      });
    this.snapshotTasks.set(id, { abort, done });
  }

  /**
   * The scheduler found the instance ready: a function instance whose snapshot waits for this is
   * snapshotted now, before its first invocation (the guest pauses for the migration), and this returns
   * once the snapshot is written or has failed.
   */
  async ready(instance: Instance): Promise<void> {
    if (this.readyCalls.ready(instance.id)) await this.snapshotTasks.get(instance.id)?.done;
  }

  /** Cancels an instance's snapshot in progress (its VM is going away) and waits until it has let go of everything. */
  private async endSnapshotTask(id: string): Promise<void> {
    const task = this.snapshotTasks.get(id);
    if (!task) return;
    task.abort.abort(new StrataError("INSTANCE_FAILED", `microVM ${id} is stopping`));
    await task.done;
  }

  /**
   * Tells a restored guest its new clock, a fresh 32-byte entropy seed and its network, and waits for the
   * init's acknowledgement: only then may requests reach the app.
   */
  private async tellRestored(id: string, net: GuestNet): Promise<void> {
    const sock = createConnection(join(this.instanceDir(id), VM_FILES.guestControl));
    try {
      await new Promise<void>((res, rej) => sock.once("connect", res).once("error", rej));
      let timer: NodeJS.Timeout | undefined;
      const acked = new Promise<void>((resolve, reject) => {
        let buf = "";
        timer = setTimeout(() => reject(new StrataError("INSTANCE_FAILED", `the restored guest ${id} did not acknowledge within ${RESTORE_ACK_MS} ms`)), RESTORE_ACK_MS);
        sock.on("data", (chunk: Buffer) => {
          buf += chunk.toString("utf8");
          if (buf.includes('"of":"restored"')) resolve();
        });
        sock.once("error", reject);
      });
      sock.write(encodeControl({ t: "restored", unixNano: Date.now() * 1e6, seed: randomBytes(32).toString("base64"), hostname: id, net: { ...net } }));
      await acked.finally(() => clearTimeout(timer));
    } finally {
      sock.destroy();
    }
  }

  /** Sends one control message to the guest init over its control port. */
  private async control(id: string, msg: GuestControl): Promise<void> {
    const sock = createConnection(join(this.instanceDir(id), VM_FILES.guestControl));
    await new Promise<void>((res, rej) => sock.once("connect", res).once("error", rej));
    await new Promise<void>((res) => sock.end(encodeControl(msg), res));
  }
}


/**
 * The environment a snapshot is taken with, which its restores keep: the version's, that is without the
 * variables naming the instance (GAE_INSTANCE and the like hold the instance id), which a restored
 * process cannot be given again (as with Lambda SnapStart, the app sees its first instance's there).
 */
function versionEnv(spec: InstanceSpec): Array<[string, string]> {
  return Object.entries(spec.env).filter(([, v]) => !v.includes(spec.instanceId)).sort(([a], [b]) => a.localeCompare(b));
}

/**
 * A function's environment as its runtime sees it in the guest: AWS_LAMBDA_RUNTIME_API names the init's
 * relay (127.0.0.1:9001, as in Lambda), whose connection survives a snapshot restore and a daemon restart.
 */
function relayedEnv(env: readonly string[], spec: InstanceSpec): string[] {
  if (spec.runtimeApi === undefined) return [...env];
  return env.map((kv) => (kv.startsWith("AWS_LAMBDA_RUNTIME_API=") ? `AWS_LAMBDA_RUNTIME_API=${GUEST_RUNTIME_API}` : kv));
}

/** Polls until a TCP connection to the endpoint succeeds (true), the deadline passes or `signal` aborts (false). */
async function waitListening(endpoint: { host: string; port: number }, ms: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !signal.aborted) {
    const open = await new Promise<boolean>((resolve) => {
      const c = connect(endpoint.port, endpoint.host);
      c.setTimeout(1000);
      c.once("connect", () => (c.destroy(), resolve(true)));
      c.once("error", () => resolve(false)); // not listening yet
      c.once("timeout", () => (c.destroy(), resolve(false)));
    });
    if (open) return true;
    await sleep(100);
  }
  return false;
}
