import { SingleFlight } from "../../system/single-flight.js";
import { access, chown, constants, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import { imagePaths, OciLayout, unpackLayers } from "../../images/index.js";
import { macForAddress, type HostNetwork } from "../../net/index.js";
import { which } from "../../system/exec.js";
import { ignoreMissing } from "../../system/fs.js";
import type {
  Capabilities, EndedState, ExecIO, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe, SandboxDriver,
} from "../driver.js";
import { imageProcess, processFor, type ImageProcess } from "../oci/image-process.js";
import { isNotFound, type LxdClient } from "./client.js";
import { ConsoleTail } from "./console-tail.js";
import { LxdDaemon } from "./daemon.js";
import { execStreaming } from "./exec-stream.js";
import { ensureImage } from "./image.js";
import { hostOwner, IN_INSTANCE, installLauncher, LAUNCHER_INIT_CMD, readExit, writeInvocation } from "./launcher.js";
import { LauncherWatch } from "./launcher-watch.js";
import { addressConfig, attachNic } from "./network.js";
import { PreparedCache, requireOciImage } from "../prepared-cache.js";

export interface LxdDriverOptions {
  readonly home: StrataHome;
  readonly network: HostNetwork;
}

export interface LxdPrepared {
  /** The LXD image alias (by the OCI image's digest). */
  readonly alias: string;
  readonly image: ImageProcess;
  /** Instance config from the image's `dev.strata.lxd.*` labels (an OS image's `cloud-init.user-data`). */
  readonly config: Readonly<Record<string, string>>;
}

/** Image labels under this prefix become LXD instance config keys (the OS builder sets cloud-init.user-data). */
export const LXD_CONFIG_LABEL = "dev.strata.lxd.";

const CAPABILITIES: Capabilities = Object.freeze({
  isolation: "system-container",
  imageKinds: Object.freeze(["oci"] as const),
  ownNetns: true,
  sharedProcess: false,
  limits: Object.freeze({ memory: true, cpu: true, pids: true }),
  recoverable: true,
  coldStart: "seconds",
  exec: true,
});

const HandleData = z.object({
  v: z.literal(1),
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  /** Where the instance's output goes: the launcher's files (an app), or the console (an OS booting its init). */
  output: z.enum(["files", "console"]).default("console"),
});

/** An OS image boots its own init; any other runs under the launcher. */
function bootsInit(argv: readonly string[]): boolean {
  return argv.length === 1 && argv[0] === "/sbin/init";
}

/** The user.* key that marks an LXD instance as this home's (sweep removes only those). */
const OWNER_KEY = "user.strata.home";

/**
 * System containers through LXD, spoken to only over its REST API (client.ts). The app's OCI image, the one
 * image type of every driver, becomes an LXD image once per digest (image.ts). An image whose entrypoint is
 * /sbin/init (the OS images of `runtime: os`) boots it, its output the console log; any other runs under
 * Strata's launcher (launcher.ts) as LXC's init, which takes the argv from a file, keeps stdout and stderr
 * apart in two files and records the exit status, all in an io directory given to the instance as an LXD
 * disk device. Unprivileged (LXD's id map), limits from the instance class, the NIC from HostNetwork
 * (network.ts). LXD VMs need KVM, which this driver does not use: instances are containers.
 */
export class LxdDriver implements SandboxDriver<LxdPrepared> {
  readonly name = "lxd" as const;
  readonly capabilities = CAPABILITIES;
  private readonly daemon: LxdDaemon;
  private readonly tails = new Map<string, ConsoleTail | LauncherWatch>();
  private launcher: Promise<string> | undefined;
  private readonly stopping = new SingleFlight<void>();
  private readonly prepared = new PreparedCache<LxdPrepared>();

  constructor(private readonly opts: LxdDriverOptions) {
    this.daemon = new LxdDaemon(opts.home.runtime("lxd"), [opts.home.root, join(opts.home.root, "run")]);
  }

  private get instancesDir(): string {
    return join(this.opts.home.runtime("lxd"), "instances");
  }

  private instanceDir(id: string): string {
    return join(this.instancesDir, id);
  }

  private ioDir(id: string): string {
    return join(this.instanceDir(id), "io");
  }

  async probe(): Promise<Probe> {
    const lxd = await which("lxd");
    if (!lxd) return { available: false, reason: "lxd is not installed", install: ["lxd (Debian 12: apt-get install lxd; scripts/setup-host.sh does)"] };
    const kvm = await access("/dev/kvm", constants.R_OK | constants.W_OK).then(() => "available, unused (instances are containers)", () => "absent: LXD VMs cannot run, containers can");
    return { available: true, details: { lxd, lxdDir: this.daemon.lxdDir, kvm } };
  }

  prepare(image: ImageRef, _spec: InstanceSpec): Promise<Prepared<LxdPrepared>> {
    requireOciImage(this.name, image);
    const key = `lxd:${image.path}:${image.digest}`;
    return this.prepared.get(key, () => this.prepareImage(image, key));
  }

  private async prepareImage(image: ImageRef, key: string): Promise<Prepared<LxdPrepared>> {
    const client = await this.daemon.ensure();
    const layout = new OciLayout(image.path);
    const resolved = await layout.resolve(image.ref ?? image.digest);
    const layers = [...(await unpackLayers(layout, resolved, imagePaths(this.opts.home).unpacked))].reverse();
    const proc = await imageProcess(resolved.config.config, layers);
    const alias = await ensureImage(client, image.digest, layers, join(this.opts.home.runtime("lxd"), "work"), image.ref ?? image.digest);
    const labels = resolved.config.config.Labels ?? {};
    const config = Object.fromEntries(Object.entries(labels).filter(([k]) => k.startsWith(LXD_CONFIG_LABEL)).map(([k, v]) => [k.slice(LXD_CONFIG_LABEL.length), v]));
    return { driver: this.name, key, data: { alias, image: proc, config } };
  }

  async release(prepared: Prepared<LxdPrepared>): Promise<void> {
    this.prepared.forget(prepared.key);
  }

  async start(prepared: Prepared<LxdPrepared>, spec: InstanceSpec, io: InstanceIO): Promise<Instance> {
    const client = await this.daemon.ensure();
    const id = spec.instanceId;
    const proc = processFor(prepared.data.image, spec);
    const output = bootsInit(proc.args) ? "console" : "files";
    await this.cleanup(id); // leftovers of an earlier attempt with this id
    try {
      const { address, parent } = await attachNic(this.opts.network, id);
      const { prefix, gateway } = this.opts.network.subnet;
      // The MAC the veth was made with, said again so LXD keeps it: the bridge port passes only that one (net/source-guard.ts).
      const devices: Record<string, Record<string, string>> = { eth0: { type: "nic", nictype: "physical", parent, name: "eth0", hwaddr: macForAddress(address) } };
      let init = "";
      if (output === "files") {
        await mkdir(this.instanceDir(id), { recursive: true, mode: 0o711 });
        await writeInvocation(this.ioDir(id), proc.args, proc.cwd, proc);
        devices["strata-bin"] = { type: "disk", source: await this.ensureLauncher(), path: IN_INSTANCE.bin, readonly: "true" };
        devices["strata-io"] = { type: "disk", source: this.ioDir(id), path: IN_INSTANCE.io };
        init = LAUNCHER_CONFIG;
      }
      const config: Record<string, string> = {
        [OWNER_KEY]: this.opts.home.tag,
        "limits.memory": `${spec.limits.memoryMb}MiB`,
        "limits.cpu.allowance": `${Math.max(1, Math.round(spec.limits.cpuMillis / 10))}ms/100ms`,
        "limits.processes": String(spec.limits.pids),
        "raw.lxc": addressConfig(address, prefix, gateway) + init,
        ...Object.fromEntries(proc.env.map((e) => [`environment.${e.slice(0, e.indexOf("="))}`, e.slice(e.indexOf("=") + 1)])),
        ...prepared.data.config,
      };
      await client.run("POST", "/1.0/instances", { name: id, type: "container", source: { type: "image", alias: prepared.data.alias }, config, devices });
      if (output === "files") {
        // The id map is LXD's choice, made at create: the io directory belongs to the container's root.
        const created = await client.get<{ config: Record<string, string> }>(`/1.0/instances/${id}`);
        const owner = hostOwner(created.config["volatile.idmap.next"], 0, 0);
        await chown(this.ioDir(id), owner.uid, owner.gid);
      }
      await client.run("PUT", `/1.0/instances/${id}/state`, { action: "start", timeout: 60 });
      await this.follow(client, id, io, output, 0);
      const handle: InstanceHandle = { id, driver: this.name, data: { v: 1, address, port: spec.port, output } };
      return { id, driver: this.name, endpoint: { host: address, port: spec.port }, handle };
    } catch (err) {
      await this.cleanup(id);
      if (err instanceof StrataError && err.code !== "DRIVER_FAILED") throw err;
      throw new StrataError("INSTANCE_FAILED", `instance ${id} did not start: ${(err as Error).message}`, { instanceId: id }, { cause: err });
    }
  }

  /** A second stop of the same instance (a drain racing an idle scale-down) joins the first. */
  stop(instance: Instance, graceMs: number): Promise<void> {
    return this.stopping.run(instance.id, () => this.stopOnce(instance, graceMs));
  }

  private async stopOnce(instance: Instance, graceMs: number): Promise<void> {
    const client = await this.daemon.ensure();
    const state = await this.lxdState(client, instance.id);
    if (state?.status === "Running") {
      // A clean shutdown (SIGPWR to init: systemd powers off, a plain init gets its signal) within the grace, then force.
      // Either may find it stopped already: init may end on the signal before LXD's own wait does.
      await client
        .run("PUT", `/1.0/instances/${instance.id}/state`, { action: "stop", timeout: Math.max(1, Math.ceil(graceMs / 1000)) })
        .catch(() => client.run("PUT", `/1.0/instances/${instance.id}/state`, { action: "stop", force: true }))
        .catch((err: unknown) => {
          if (!/already stopped/i.test((err as Error).message)) throw err;
        });
    }
    await this.cleanup(instance.id);
  }

  async inspect(instance: Instance): Promise<InstanceState> {
    const client = await this.daemon.ensure();
    // The launcher's record first: it is written as the app ends, a moment before LXD says the instance stopped.
    const recorded = await readExit(this.ioDir(instance.id));
    if (recorded) return recorded;
    const state = await this.lxdState(client, instance.id);
    if (state?.status === "Running") {
      return { status: "running", cpuMs: Math.round((state.cpu?.usage ?? 0) / 1e6), ...(state.memory?.usage && { memoryBytes: state.memory.usage }) };
    }
    const data = HandleData.safeParse(instance.handle.data);
    return this.endedState(instance.id, data.success ? data.data.output : "console", state !== null);
  }

  /**
   * How an instance that LXD no longer reports running ended. The launcher's record is read again: it is
   * written before the launcher exits, and the app may have ended between an earlier read and LXD's answer
   * (LXD then says Stopping or Stopped, and a missing record would wrongly say killed).
   */
  private async endedState(id: string, output: "files" | "console", known: boolean): Promise<EndedState | { status: "gone" }> {
    return (await readExit(this.ioDir(id))) ?? (known ? endedWithoutRecord(output) : { status: "gone" });
  }

  async exec(instance: Instance, argv: readonly string[], io: ExecIO): Promise<number> {
    const client = await this.daemon.ensure();
    const state = await this.lxdState(client, instance.id);
    if (state?.status !== "Running") throw new StrataError("INSTANCE_FAILED", `instance ${instance.id} is not running`, { instanceId: instance.id });
    return execStreaming(client, instance.id, argv, io);
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    const data = HandleData.safeParse(handle.data);
    const client = await this.daemon.ensure();
    const state = await this.lxdState(client, handle.id);
    if (data.success && state?.status === "Running") {
      const from = data.data.output === "console" ? (await client.text(`/1.0/instances/${handle.id}/console`).catch(() => "")).length : 0;
      await this.follow(client, handle.id, io, data.data.output, from);
      return { id: handle.id, driver: this.name, endpoint: { host: data.data.address, port: data.data.port }, handle };
    }
    await this.cleanup(handle.id);
    return null;
  }

  async sweep(keep: ReadonlySet<string>): Promise<void> {
    // No LXD of this home running: no instance of it either (a daemon that stops takes its containers
    // down), and every Strata start sweeps, so this does not start one; launcher directories go either way.
    if (await this.daemon.client.alive()) {
      const client = await this.daemon.ensure();
      const all = await client.get<Array<{ name: string; config: Record<string, string> }>>("/1.0/instances?recursion=1");
      for (const i of all) if (i.config[OWNER_KEY] === this.opts.home.tag && !keep.has(i.name)) await this.cleanup(i.name);
    }
    for (const e of await readdir(this.instancesDir, { withFileTypes: true }).catch(ignoreMissing([]))) {
      if (e.isDirectory() && !keep.has(e.name)) await rm(this.instanceDir(e.name), { recursive: true, force: true });
    }
  }

  /** At Strata's shutdown: the LXD daemon ends when no instance is left in it. */
  async close(): Promise<void> {
    for (const tail of this.tails.values()) await tail.stop();
    this.tails.clear();
    await this.daemon.shutdown();
  }

  private async follow(client: LxdClient, id: string, io: InstanceIO, output: "files" | "console", from: number): Promise<void> {
    await this.tails.get(id)?.stop();
    const exited = (state: EndedState) => {
      if (!this.stopping.has(id)) io.exited?.(state);
    };
    if (output === "console") {
      const tail = new ConsoleTail(client, id, from, io, exited);
      this.tails.set(id, tail);
      tail.start();
      return;
    }
    const watch = new LauncherWatch(
      this.ioDir(id),
      this.instanceDir(id),
      { log: (stream, line) => io.log(stream, line), exited },
      async () => (await this.lxdState(client, id))?.status === "Running",
      async () => this.endedState(id, output, (await this.lxdState(client, id)) !== null),
    );
    this.tails.set(id, watch);
    await watch.start();
  }

  /** The launcher's files, written once per driver object (the host's busybox may have been upgraded since). */
  private ensureLauncher(): Promise<string> {
    this.launcher ??= installLauncher(join(this.opts.home.runtime("lxd"), "launcher")).catch((err: unknown) => {
      this.launcher = undefined; // tried again next time
      throw err;
    });
    return this.launcher;
  }

  private async lxdState(client: LxdClient, id: string): Promise<{ status: string; cpu?: { usage: number }; memory?: { usage: number } } | null> {
    try {
      return await client.get(`/1.0/instances/${id}/state`);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** LXD holds an instance's operation lock a moment after a stop: a delete refused as busy is tried again. */
  private async deleteInstance(client: LxdClient, id: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await client.run("DELETE", `/1.0/instances/${id}`);
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (attempt >= 50 || !/busy|matching non-reusable operation/i.test((err as Error).message)) throw err;
        await sleep(100);
      }
    }
  }

  /** Force-stops and deletes the LXD instance, then detaches its NIC; each step tolerates absence. */
  private async cleanup(id: string): Promise<void> {
    const tail = this.tails.get(id);
    this.tails.delete(id);
    await tail?.stop();
    const client = await this.daemon.ensure();
    const state = await this.lxdState(client, id);
    if (state && state.status !== "Stopped") {
      await client.run("PUT", `/1.0/instances/${id}/state`, { action: "stop", force: true }).catch((err: unknown) => {
        if (!/already stopped/i.test((err as Error).message)) throw err;
      });
    }
    if (state) await this.deleteInstance(client, id);
    await this.opts.network.detach(id);
    await rm(this.instanceDir(id), { recursive: true, force: true });
  }
}

/**
 * Stopped with no exit recorded. An app's launcher records every end it lives to see (it traps the
 * signals it can), so one without a record was SIGKILLed: killed, 137. An OS instance powered off:
 * LXD keeps no exit status of a container's init, so its code is unknown (-1).
 */
function endedWithoutRecord(output: "files" | "console"): EndedState {
  return output === "files" ? { status: "exited", code: 137, reason: "killed" } : { status: "exited", code: -1, reason: "exited" };
}

/**
 * LXC's init for an app: the launcher (its command has no whitespace inside an argument, which
 * lxc.init.cmd would split at), with the container's cgroups mounted read-only so the launcher can read
 * the OOM-kill and pids counters LXC removes with the container. LXD mounts cgroups only for an init that
 * does it itself (systemd); `force` has LXC mount them for the launcher.
 */
const LAUNCHER_CONFIG = `lxc.init.cmd = ${LAUNCHER_INIT_CMD}\nlxc.mount.auto = cgroup:ro:force\n`;
