import { SingleFlight } from "../../system/single-flight.js";
import { spawn } from "node:child_process";
import { chmod, chown, mkdir, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import { imagePaths, OciLayout, unpackLayers } from "../../images/index.js";
import type { HostNetwork } from "../../net/index.js";
import { exec, execPassThrough } from "../../system/exec.js";
import { ignoreMissing, pathExists } from "../../system/fs.js";
import type {
  Capabilities, DriverName, ExecIO, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe,
  SandboxDriver,
} from "../driver.js";
import type { IdMap } from "../oci/bundle.js";
import { CgroupV1 } from "../oci/cgroup-v1.js";
import { watchExit } from "../oci/exit-watch.js";
import { OciHandleData, ociHandleData, type OciPrepared } from "../oci/handle.js";
import { layersPresent } from "../oci/driver.js";
import { PreparedCache, requireOciImage } from "../prepared-cache.js";
import { imageProcess, processFor } from "../oci/image-process.js";
import { LogTail } from "../oci/log-tail.js";
import { mountOverlay, mountsUnder, unmount } from "../oci/rootfs.js";
import { shiftedLayers, shiftedLayersDir } from "../oci/shifted-layers.js";
import { untraversableAbove } from "../oci/traversable.js";
import { limitsHit, makeLimitedCgroup } from "./cgroup-limits.js";
import { lxcConfig } from "./config.js";
import { HOST_BUSYBOX, IN_CONTAINER, installHolder, type HolderFiles } from "./holder.js";
import { probeLxc } from "./probe.js";

export interface LxcDriverOptions {
  readonly home: StrataHome;
  readonly network: HostNetwork;
  /** Host ids for container ids 0..size-1 (default 100000, 65536), shared by every instance. */
  readonly idMap?: IdMap;
}

const NAME: DriverName = "lxc";
const POLL_MS = 10;
/** How long after lxc-stop's own kill the holder may take to record the exit before the cgroup is emptied. */
const KILL_WAIT_MS = 5_000;
/** Each output file is emptied once read past this size (as conmon caps its log for OCI instances). */
const LOG_SIZE_MAX = 16 << 20;

const LXC_CAPABILITIES: Capabilities = Object.freeze({
  isolation: "system-container",
  imageKinds: Object.freeze(["oci"] as const),
  ownNetns: true,
  sharedProcess: false,
  limits: Object.freeze({ memory: true, cpu: true, pids: true }),
  recoverable: true,
  coldStart: "ms",
  exec: true,
});

/**
 * Unprivileged LXC containers from the app's OCI image. Each instance: the same overlay root as the OCI
 * driver's (uid-shifted image layers + its own upper dir), a generated LXC config (config.ts) that joins
 * the instance's netns from HostNetwork and sets cgroup v1 limits, and a holder (`sh holder.sh`, holder.ts)
 * that runs `lxc-execute` with the app's argv as an array: LXC's static init is pid 1, the app its child.
 * The holder's stdout and stderr are the app's, written to two files that LogTail follows; its exit file
 * is the app's exit status. Holders outlive the daemon, so recover() re-adopts what a previous one started.
 * Every path, cgroup and container name is the instance id.
 */
export class LxcDriver implements SandboxDriver<OciPrepared> {
  readonly name = NAME;
  readonly capabilities = LXC_CAPABILITIES;

  private readonly idMap: IdMap;
  private readonly cgroups: CgroupV1;
  /** lxc-execute's own cgroups (LXC's monitor), one per instance, apart from the container's. */
  private readonly monitorCgroups: CgroupV1;
  private readonly tails = new Map<string, LogTail[]>();
  private readonly exitWatches = new Map<string, () => void>();
  private readonly stopping = new SingleFlight<void>();
  private readonly prepared = new PreparedCache<OciPrepared>(layersPresent);
  private holder: Promise<HolderFiles> | undefined;

  constructor(private readonly opts: LxcDriverOptions) {
    this.idMap = opts.idMap ?? { hostId: 100_000, size: 65_536 };
    this.cgroups = new CgroupV1(`strata/${opts.home.tag}/${NAME}`);
    this.monitorCgroups = new CgroupV1(`strata/${opts.home.tag}/${NAME}-monitor`);
  }

  private get dir(): string {
    return this.opts.home.runtime(NAME);
  }

  private get instancesDir(): string {
    return join(this.dir, "instances");
  }

  private instanceDir(id: string): string {
    return join(this.instancesDir, id);
  }

  async probe(): Promise<Probe> {
    try {
      const probe = await probeLxc();
      if (!probe.available) return probe;
      const blocked = await untraversableAbove(this.opts.home.root);
      if (blocked) {
        return {
          available: false,
          reason: `${blocked} is not traversable by the instances' root (host uid ${this.idMap.hostId}); run chmod o+x on it or set STRATA_HOME elsewhere (e.g. /var/lib/strata)`,
          details: probe.details,
        };
      }
      return probe;
    } catch (err) {
      return { available: false, reason: `probing lxc failed: ${(err as Error).message}` };
    }
  }

  async prepare(image: ImageRef, _spec: InstanceSpec): Promise<Prepared<OciPrepared>> {
    requireOciImage(NAME, image);
    const key = `${NAME}:${image.path}:${image.ref ?? image.digest}:${image.digest}`;
    return this.prepared.get(key, () => this.prepareImage(image, key));
  }

  async release(prepared: Prepared<OciPrepared>): Promise<void> {
    this.prepared.forget(prepared.key); // the shifted layers are shared with other versions
  }

  async start(prepared: Prepared<OciPrepared>, spec: InstanceSpec, io: InstanceIO): Promise<Instance> {
    const id = spec.instanceId;
    const proc = processFor(prepared.data.image, spec);
    const holder = await this.ensureDirs();
    const dir = this.instanceDir(id);
    if (await pathExists(dir)) await this.cleanup(id); // leftovers of a crashed earlier attempt with this id
    try {
      await mkdir(dir, { mode: 0o711 });
      const upper = join(dir, "upper");
      const rootfs = join(dir, "rootfs");
      const mountRoot = async () => {
        for (const d of [upper, join(dir, "work"), rootfs, join(dir, "persist")]) await mkdir(d, { mode: 0o711 });
        await chown(upper, this.idMap.hostId, this.idMap.hostId); // root inside owns what it creates
        await mountOverlay(prepared.data.layers, upper, join(dir, "work"), rootfs);
      };
      // Network and root file system side by side, both on the cold-start path (as the OCI driver does).
      const [attached, mounted] = await Promise.allSettled([this.opts.network.attach(id), mountRoot()]);
      if (attached.status === "rejected") throw attached.reason;
      if (mounted.status === "rejected") throw mounted.reason;
      const { netnsPath, address } = attached.value;
      const hostsFile = join(dir, "hosts");
      await writeFile(hostsFile, `127.0.0.1\tlocalhost\n::1\tlocalhost\n${address}\t${id}\n`, { mode: 0o644 });
      const configFile = join(dir, "lxc.conf");
      await writeFile(configFile, lxcConfig({
        instanceId: id, rootfs, netnsPath, hostsFile, busybox: HOST_BUSYBOX, mainScript: holder.main, cgroupDir: `${this.cgroups.pathFor(id).slice(1)}/lxc`,
        monitorCgroupDir: this.monitorCgroups.pathFor(id).slice(1), idMap: this.idMap,
        process: proc,
      }));
      await makeLimitedCgroup(this.cgroups.pathFor(id).slice(1), spec.limits);
      await this.launch(holder.holder, id, configFile, [IN_CONTAINER.busybox, "sh", IN_CONTAINER.main, ...proc.args]);
      await this.follow(id, io);
      const handle: InstanceHandle = { id, driver: NAME, data: ociHandleData(address, spec.port) };
      return { id, driver: NAME, endpoint: { host: address, port: spec.port }, handle };
    } catch (err) {
      await this.cleanup(id);
      if (err instanceof StrataError) throw err;
      throw new StrataError("INSTANCE_FAILED", `instance ${id} did not start: ${(err as Error).message}`, { instanceId: id }, { cause: err });
    }
  }

  /** Starts the holder in its own session (it outlives the daemon), its stdout and stderr into the log files. */
  private async launch(holder: string, id: string, configFile: string, args: readonly string[]): Promise<void> {
    const dir = this.instanceDir(id);
    const out = await open(join(dir, "stdout.log"), "a", 0o600);
    const err = await open(join(dir, "stderr.log"), "a", 0o600);
    try {
      const child = spawn(
        "/bin/sh",
        [holder, join(dir, "persist", "exit"), "lxc-execute", "-n", id, "-P", this.instancesDir, "-f", configFile, "--", ...args],
        { detached: true, stdio: ["ignore", out.fd, err.fd] },
      );
      const pid = await new Promise<number>((resolve, reject) => {
        child.once("error", reject);
        child.once("spawn", () => resolve(child.pid!));
      });
      child.unref();
      await writeFile(join(dir, "holder.pid"), String(pid));
    } finally {
      await out.close();
      await err.close();
    }
  }

  stop(instance: Instance, graceMs: number): Promise<void> {
    return this.stopping.run(instance.id, () => this.stopOnce(instance.id, graceMs));
  }

  /**
   * lxc-stop asks LXC's init to end (SIGPWR, which it turns into SIGTERM for the app) and kills after the
   * grace time; a container LXC has not registered yet (stopped within its first milliseconds) is ended by
   * emptying its cgroup in cleanup().
   */
  private async stopOnce(id: string, graceMs: number): Promise<void> {
    if (await this.holderAlive(id)) {
      const argv = ["lxc-stop", "-n", id, "-P", this.instancesDir];
      const asked = await exec(graceMs > 0 ? [...argv, "-t", String(Math.max(1, Math.ceil(graceMs / 1000)))] : [...argv, "-k"], {
        okCodes: [0, 1, 2],
        timeoutMs: graceMs + KILL_WAIT_MS,
      });
      if (asked.code !== 0) await exec([...argv, "-k"], { okCodes: [0, 1, 2], timeoutMs: KILL_WAIT_MS });
      await this.waitHolderGone(id, KILL_WAIT_MS);
    }
    await this.cleanup(id);
  }

  inspect(instance: Instance): Promise<InstanceState> {
    return this.stateOf(instance.id);
  }

  private async stateOf(id: string): Promise<InstanceState> {
    const exitFile = join(this.instanceDir(id), "persist", "exit");
    let exit = await readFile(exitFile, "utf8").catch(ignoreMissing(null));
    if (exit === null) {
      if (await this.holderAlive(id)) {
        const oomKills = await this.cgroups.oomKills(id);
        return { status: "running", ...(await this.cgroups.stats(id)), ...(oomKills !== undefined && { oomKills }) };
      }
      // The holder writes the exit before it ends: one that ended since the first read has left it.
      exit = await readFile(exitFile, "utf8").catch(ignoreMissing(null));
      if (exit === null) return { status: "gone" };
    }
    const code = Number(exit.trim());
    const hit = await limitsHit(this.cgroups.pathFor(id).slice(1));
    // Killed by a signal at the memory limit: the OOM killer's SIGKILL (to the app, or to the wrapper above it).
    if (((await this.cgroups.oomKills(id)) ?? 0) > 0 || (code > 128 && hit.memory)) return { status: "exited", code, reason: "oom-killed" };
    if (code !== 0 && (((await this.cgroups.pidsLimitHits(id)) ?? 0) > 0 || hit.pids)) return { status: "exited", code, reason: "pids-limit" };
    return { status: "exited", code, reason: code > 128 ? "killed" : "exited" };
  }

  /**
   * `lxc-attach` with the argv as an array: into every namespace of the container's init (its user, pid,
   * mount and network namespaces among them), its cgroup, as root in the container (a system container),
   * with the instance's environment (the config's lxc.environment lines) in place of the daemon's.
   */
  async exec(instance: Instance, argv: readonly string[], io: ExecIO): Promise<number> {
    const id = instance.id;
    if (!(await this.holderAlive(id))) throw new StrataError("INSTANCE_FAILED", `instance ${id} is not running`, { instanceId: id });
    const config = await readFile(join(this.instanceDir(id), "lxc.conf"), "utf8");
    const env = config.split("\n").filter((l) => l.startsWith("lxc.environment = ")).map((l) => l.slice("lxc.environment = ".length));
    return execPassThrough(["lxc-attach", "-n", id, "-P", this.instancesDir, "--clear-env", ...env.flatMap((e) => ["-v", e]), "--", ...argv], io);
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    const id = handle.id;
    const data = OciHandleData.safeParse(handle.data);
    if (data.success && (await this.holderAlive(id))) {
      await this.follow(id, io);
      return { id, driver: NAME, endpoint: { host: data.data.address, port: data.data.port }, handle: { ...handle, data: data.data } };
    }
    await this.cleanup(id);
    return null;
  }

  async close(): Promise<void> {
    await this.cgroups.removeParents();
    await this.monitorCgroups.removeParents();
  }

  async sweep(keep: ReadonlySet<string>): Promise<void> {
    const ids = new Set<string>([...(await this.cgroups.listIds()), ...(await this.monitorCgroups.listIds())]);
    for (const e of await readdir(this.instancesDir, { withFileTypes: true }).catch(ignoreMissing([]))) {
      if (e.isDirectory()) ids.add(e.name);
    }
    for (const id of ids) if (!keep.has(id)) await this.cleanup(id);
  }

  /**
   * Everything an instance made, in reverse order; each step tolerates its absence and a failed step
   * does not keep the later ones from running (the first failure is thrown at the end). Emptying the
   * cgroup kills what is left of the container; its holder then ends and is waited for.
   */
  private async cleanup(id: string): Promise<void> {
    const dir = this.instanceDir(id);
    const failures: unknown[] = [];
    const step = async (run: () => Promise<unknown>) => {
      await run().catch((err: unknown) => void failures.push(err));
    };
    this.exitWatches.get(id)?.();
    this.exitWatches.delete(id);
    const tails = this.tails.get(id) ?? [];
    this.tails.delete(id);
    for (const tail of tails) await step(() => tail.stop());
    await step(() => this.cgroups.remove(id));
    await step(async () => {
      if (await this.waitHolderGone(id, KILL_WAIT_MS)) return;
      const pid = await this.holderPid(id);
      if (pid) process.kill(-pid, "SIGKILL"); // the holder's whole session: sh and lxc-execute
      await this.waitHolderGone(id, KILL_WAIT_MS);
    });
    await step(async () => {
      for (const mount of (await mountsUnder(dir)).reverse()) await unmount(mount);
    });
    await step(() => this.cgroups.remove(id)); // the holder's end could race the first removal
    await step(() => this.monitorCgroups.remove(id));
    await step(() => this.opts.network.detach(id));
    if (failures.length === 0) await step(() => rm(dir, { recursive: true, force: true }));
    if (failures.length > 0) throw failures[0];
  }

  private async follow(id: string, io: InstanceIO): Promise<void> {
    const dir = this.instanceDir(id);
    const tails = (["stdout", "stderr"] as const).map((s) => new LogTail(join(dir, `${s}.log`), join(dir, `${s}.offset`), io, s, LOG_SIZE_MAX));
    this.tails.set(id, tails);
    for (const tail of tails) await tail.start();
    const exited = io.exited?.bind(io);
    if (exited) this.exitWatches.set(id, watchExit(join(dir, "persist"), () => void this.pushExit(id, exited)));
  }

  /** The holder wrote the exit file: tells the scheduler how the instance ended, unless stop() ended it. */
  private async pushExit(id: string, exited: NonNullable<InstanceIO["exited"]>): Promise<void> {
    this.exitWatches.delete(id);
    if (this.stopping.has(id)) return;
    // The last lines reach the log before the exit is told.
    for (const tail of this.tails.get(id) ?? []) await tail.stop().catch(() => undefined);
    const state = await this.stateOf(id).catch(() => undefined); // unreadable now: the scheduler's health check finds it
    if (state && state.status !== "running" && !this.stopping.has(id)) exited(state);
  }

  private async holderPid(id: string): Promise<number | null> {
    const pid = Number(await readFile(join(this.instanceDir(id), "holder.pid"), "utf8").catch(ignoreMissing("")));
    return pid > 0 ? pid : null;
  }

  /** The holder is alive: its pid runs a command line naming this instance (not a reused pid). */
  private async holderAlive(id: string): Promise<boolean> {
    const pid = await this.holderPid(id);
    if (!pid) return false;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ESRCH") return ""; // the process ended (ESRCH: while being read)
      throw err;
    });
    return cmdline.split("\0").includes(id);
  }

  private async waitHolderGone(id: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (!(await this.holderAlive(id))) return true;
      if (Date.now() >= deadline) return false;
      await sleep(POLL_MS);
    }
  }

  private async prepareImage(image: ImageRef, key: string): Promise<Prepared<OciPrepared>> {
    const layout = new OciLayout(image.path);
    const resolved = await layout.resolve(image.ref ?? image.digest);
    const unpacked = await unpackLayers(layout, resolved, imagePaths(this.opts.home).unpacked);
    if (!unpacked.length) throw new StrataError("INVALID_ARGUMENT", `image ${image.ref ?? image.digest} has no layers`);
    await this.ensureDirs();
    const layers = [...(await shiftedLayers(unpacked, this.idMap, shiftedLayersDir(this.opts.home, NAME)))].reverse();
    return { driver: NAME, key, data: { layers, image: await imageProcess(resolved.config.config, layers) } };
  }

  /** The instances' mapped root resolves its rootfs path itself: STRATA_HOME down to the instances must be traversable. */
  private ensureDirs(): Promise<HolderFiles> {
    this.holder ??= this.makeDirs().catch((err: unknown) => {
      this.holder = undefined; // retried next time
      throw err;
    });
    return this.holder;
  }

  private async makeDirs(): Promise<HolderFiles> {
    await mkdir(this.instancesDir, { recursive: true });
    const home = this.opts.home.root;
    for (const d of [home, join(home, "run"), this.dir, this.instancesDir]) await chmod(d, 0o711);
    return installHolder(this.dir);
  }
}

