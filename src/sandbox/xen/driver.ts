import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import type { HostNetwork } from "../../net/index.js";
import { exec, which } from "../../system/exec.js";
import { pathExists } from "../../system/fs.js";
import type {
  ExecIO, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe, SandboxDriver,
} from "../driver.js";
import {
  bridgeGuestNic, guestAssets, guestCapabilities, GuestExec, GuestImages, guestInstance, GuestInstances, guestNetOf, writeRunDisk, type GuestPrepared,
} from "../guest/index.js";
import { processFor } from "../oci/image-process.js";
import { machineFor } from "../vm/index.js";
import { ChannelPump } from "./channel.js";
import { XenHandleData } from "./handle.js";
import { probeXen } from "./probe.js";
import { writeVifScript } from "./vif-script.js";
import { Xl } from "./xl.js";
import { xlConfig } from "./xl-config.js";

/** The kernel command line: the PV console (hvc0) carries the kernel's own messages. */
export const XEN_CMDLINE = "console=hvc0 quiet panic=-1 rdinit=/init";

const FILES = { cfg: "xl.cfg", run: "run.img", log: "events.log", offset: "events.offset", logSocket: "log.sock", ctlSocket: "ctl.sock", execSocket: "exec.sock" } as const;
const POLL_MS = 200;
const WATCH_MS = 1000;
const CHANNEL_CONNECT_MS = 10_000;
/** How every instance runs, for `strata instances`. */
const DETAIL = "xen-pvh";

// CPU: no cap is set on the domain's vCPUs (xl sched-credit2 -c would be it).
const CAPABILITIES = guestCapabilities("vm", { cpu: false, pids: false });

export interface XenDriverOptions {
  readonly home: StrataHome;
  /** The one HostNetwork every driver shares: each domain's vif is moved into its instance's namespace. */
  readonly network: HostNetwork;
  /** Streams long first-use work (building the init, making a root disk). */
  readonly onProgress?: (line: string) => void;
  /** Where Xen's /proc files are (tests point it elsewhere). */
  readonly procXen?: string;
}

export type XenPrepared = GuestPrepared;

/**
 * Each instance is a Xen PVH domain on a dom0, created, watched and destroyed with xl (argv, never a
 * shell string): `xl create -p` from a generated xl.cfg, the vif moved into the instance's network
 * namespace, `xl unpause`; `xl domid` to watch it; `xl shutdown`, then `xl destroy` after the grace period.
 * It boots what the QEMU drivers boot (sandbox/guest: the guest kernel as PVH, Strata's init, the
 * image as a read-only disk, the run file), and the app's output and exit come over a PV channel into
 * the same event file GuestLogFollower reads. Domains are named `strata-<home tag>-<instance id>`, so a
 * restarted daemon re-adopts them by name and sweeps the others by that prefix.
 */
export class XenDriver implements SandboxDriver<XenPrepared> {
  readonly name = "xen" as const;
  readonly capabilities = CAPABILITIES;

  private readonly instances: GuestInstances;
  private readonly images: GuestImages;
  private readonly pumps = new Map<string, ChannelPump>();
  private readonly watches = new Map<string, NodeJS.Timeout>();
  /** `strata exec` sessions through the guest init's exec channel, one at a time per instance. */
  private readonly execs = new GuestExec();

  constructor(private readonly opts: XenDriverOptions) {
    this.instances = new GuestInstances(opts.home.runtime("xen"), FILES);
    this.images = new GuestImages(this.name, opts.home, () => guestAssets(opts.onProgress), opts.onProgress);
  }

  private instanceDir(id: string): string {
    return this.instances.dir(id);
  }

  /** Every domain of this home starts so; the rest of the name is the instance id. */
  get domainPrefix(): string {
    return `strata-${this.opts.home.tag}-`;
  }

  private domain(id: string): string {
    return `${this.domainPrefix}${id}`;
  }

  probe(): Promise<Probe> {
    return probeXen(this.opts.procXen);
  }

  /** xl, where the probe says this host is a dom0; otherwise the probe's reason, as a typed error. */
  private async xl(): Promise<Xl> {
    const probe = await this.probe();
    if (!probe.available) throw new StrataError("SANDBOX_UNAVAILABLE", `xen: ${probe.reason}`, { install: probe.install });
    const bin = await which("xl");
    if (!bin) throw new StrataError("SANDBOX_UNAVAILABLE", "xl is not installed (xen-utils)");
    return new Xl(bin);
  }

  prepare(image: ImageRef, _spec: InstanceSpec): Promise<Prepared<XenPrepared>> {
    return this.images.prepare(image);
  }

  async release(prepared: Prepared<XenPrepared>): Promise<void> {
    this.images.release(prepared);
  }

  async start(prepared: Prepared<XenPrepared>, spec: InstanceSpec, io: InstanceIO): Promise<Instance> {
    const xl = await this.xl();
    const id = spec.instanceId;
    const dir = this.instanceDir(id);
    const name = this.domain(id);
    const proc = processFor(prepared.data.image, spec);
    const machine = machineFor(spec); // app.yaml vm: vcpus and memory, as the vm driver reads them (not its machine model)
    if ((await pathExists(dir)) || (await xl.domid(name))) await this.cleanup(id, xl); // a crashed earlier attempt with this id
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const vifScript = join(this.instances.root, "vif-strata");
      await writeVifScript(vifScript);
      const attachment = await this.opts.network.attach(id);
      const { netnsPath } = attachment;
      const net = guestNetOf(attachment);
      await writeRunDisk(join(dir, FILES.run), {
        args: proc.args, env: proc.env, cwd: proc.cwd, uid: proc.uid, gid: proc.gid, hostname: id, memoryMb: machine.appMemoryMb, net,
      });
      const vifName = `xv${id.slice(-13)}`; // IFNAMSIZ: at most 15 characters
      const cfg = join(dir, FILES.cfg);
      await writeFile(cfg, xlConfig({
        name,
        kernel: prepared.data.assets.kernel.vmlinux,
        initramfs: prepared.data.assets.initramfs,
        cmdline: XEN_CMDLINE,
        rootDisk: prepared.data.rootDisk,
        runDisk: join(dir, FILES.run),
        memoryMb: machine.memoryMb,
        vcpus: machine.vcpus,
        mac: net.mac,
        vifName,
        vifScript,
        logSocket: join(dir, FILES.logSocket),
        controlSocket: join(dir, FILES.ctlSocket),
        execSocket: join(dir, FILES.execSocket),
      }));
      await xl.createPaused(cfg);
      await exec(["ip", "link", "set", "dev", vifName, "netns", netnsPath]);
      await bridgeGuestNic(netnsPath, vifName);
      await this.follow(id, io);
      await xl.unpause(name);
      this.watch(id, xl, io);
      const data: XenHandleData = { v: 1, address: net.address, port: spec.port, domain: name };
      return guestInstance({ id, driver: this.name, data }, { host: net.address, port: spec.port }, DETAIL);
    } catch (err) {
      await this.cleanup(id, xl);
      if (err instanceof StrataError) throw err;
      throw new StrataError("INSTANCE_FAILED", `Xen guest ${id} did not start: ${(err as Error).message}`, { instanceId: id }, { cause: err });
    }
  }

  stop(instance: Instance, graceMs: number): Promise<void> {
    return this.instances.stopping.run(instance.id, () => this.stopOnce(instance.id, graceMs));
  }

  /** `xl shutdown` (the guest init passes it to the app as SIGTERM); `xl destroy` after the grace period. */
  private async stopOnce(id: string, graceMs: number): Promise<void> {
    const xl = await this.xl();
    const name = this.domain(id);
    if (graceMs > 0 && (await xl.domid(name))) {
      await xl.shutdown(name);
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && (await xl.domid(name))) await sleep(POLL_MS);
    }
    await this.cleanup(id, xl);
  }

  async inspect(instance: Instance): Promise<InstanceState> {
    const id = instance.id;
    const xl = await this.xl();
    return this.instances.state(id, async () => (await xl.domid(this.domain(id))) !== undefined);
  }

  /**
   * Through the guest init's exec channel, a PV channel whose dom0 end is a unix socket the channel's
   * backend listens on, as the QEMU drivers' exec port (guest/exec-channel.ts).
   */
  async exec(instance: Instance, argv: readonly string[], io: ExecIO): Promise<number> {
    const id = instance.id;
    const xl = await this.xl();
    if (!(await xl.domid(this.domain(id))) || (await this.instances.exitRecord(id))) throw new StrataError("INSTANCE_FAILED", `instance ${id} is not running`, { instanceId: id });
    return this.execs.run(id, join(this.instanceDir(id), FILES.execSocket), argv, io);
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    const id = handle.id;
    const xl = await this.xl();
    const data = XenHandleData.safeParse(handle.data);
    if (data.success && data.data.domain === this.domain(id) && (await xl.domid(data.data.domain)) && !(await this.instances.exitRecord(id))) {
      await this.follow(id, io);
      this.watch(id, xl, io);
      const { address, port } = data.data;
      return guestInstance({ ...handle, data: data.data }, { host: address, port }, DETAIL);
    }
    await this.cleanup(id, xl);
    return null;
  }

  async sweep(keep: ReadonlySet<string>): Promise<void> {
    const probe = await this.probe();
    const xl = probe.available ? await this.xl() : undefined;
    const domains = xl ? (await xl.names()).filter((n) => n.startsWith(this.domainPrefix)).map((n) => n.slice(this.domainPrefix.length)) : [];
    await this.instances.sweep(keep, domains, (id) => this.cleanup(id, xl));
  }

  async close(): Promise<void> {
    for (const t of this.watches.values()) clearInterval(t);
    this.watches.clear();
    await this.instances.close();
    for (const p of this.pumps.values()) await p.close();
    this.pumps.clear();
  }

  /** Everything an instance made: its watch, follower, log channel, domain, network and directory. */
  private async cleanup(id: string, xl: Xl | undefined): Promise<void> {
    clearInterval(this.watches.get(id));
    this.watches.delete(id);
    const pump = this.pumps.get(id);
    this.pumps.delete(id);
    await this.instances.cleanup(id, [
      async () => pump?.close(),
      ...(xl ? [async () => (await xl.domid(this.domain(id))) && (await xl.destroy(this.domain(id)))] : []),
      () => this.opts.network.detach(id),
    ]);
  }

  /** Connects to the guest's log channel and follows the event file it fills. */
  private async follow(id: string, io: InstanceIO): Promise<void> {
    const dir = this.instanceDir(id);
    this.pumps.set(id, await ChannelPump.open(join(dir, FILES.logSocket), join(dir, FILES.log), CHANNEL_CONNECT_MS));
    await this.instances.follow(id, io);
  }

  /**
   * Polls `xl domid` (xl has no event stream for this): a domain gone without the guest's exit record
   * ended under its app (a guest kernel panic, an `xl destroy` from outside), and that is pushed.
   */
  private watch(id: string, xl: Xl, io: InstanceIO): void {
    const timer = setInterval(() => {
      void (async () => {
        if (this.instances.stopping.has(id) || !this.watches.has(id) || (await xl.domid(this.domain(id)))) return;
        clearInterval(timer);
        this.watches.delete(id);
        if (await this.instances.exitRecord(id)) return;
        io.log("stderr", `strata: the Xen domain ${this.domain(id)} ended before its app did`);
        io.exited?.({ status: "exited", code: -1, reason: "killed" });
      })().catch((err: Error) => io.log("stderr", `strata: watching Xen domain ${this.domain(id)}: ${err.message}`));
    }, WATCH_MS);
    timer.unref();
    this.watches.set(id, timer);
  }
}
