import { SingleFlight } from "../../system/single-flight.js";
import { access, constants } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import { imagePaths } from "../../images/catalog.js";
import { OciLayout } from "../../images/layout.js";
import { unpackLayers } from "../../images/unpack.js";
import type { HostNetwork } from "../../net/host-network.js";
import { which } from "../../system/exec.js";
import type {
  Capabilities, ExecIO, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe, SandboxDriver,
} from "../driver.js";
import { imageProcess, type ImageProcess } from "../oci/image-process.js";
import { isNotFound, type LxdClient } from "./client.js";
import { ConsoleTail } from "./console-tail.js";
import { LxdDaemon } from "./daemon.js";
import { ensureImage } from "./image.js";
import { addressConfig, attachNic } from "./network.js";

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

const HandleData = z.object({ v: z.literal(1), address: z.string().min(1), port: z.number().int().min(1).max(65535) });

/** The user.* key that marks an LXD instance as this home's (sweep removes only those). */
const OWNER_KEY = "user.strata.home";

/**
 * System containers through LXD, spoken to only over its REST API (client.ts). The app's OCI image, the one
 * image type of every driver, becomes an LXD image once per digest (image.ts); an image whose entrypoint is
 * /sbin/init (the OS images of `runtime: os`) boots it, any other gets its entrypoint as LXC's init.
 * Unprivileged (LXD's id map), limits from the instance class, the NIC from HostNetwork (network.ts),
 * output from the console log (one stream: stdout and stderr arrive merged). LXD VMs need KVM, which this
 * driver does not use: instances are containers.
 */
export class LxdDriver implements SandboxDriver<LxdPrepared> {
  readonly name = "lxd" as const;
  readonly capabilities = CAPABILITIES;
  private readonly daemon: LxdDaemon;
  private readonly tails = new Map<string, ConsoleTail>();
  private readonly stopping = new SingleFlight<void>();
  private readonly prepared = new Map<string, Promise<Prepared<LxdPrepared>>>();

  constructor(private readonly opts: LxdDriverOptions) {
    this.daemon = new LxdDaemon(opts.home.runtime("lxd"), [opts.home.root, join(opts.home.root, "run")]);
  }

  async probe(): Promise<Probe> {
    const lxd = await which("lxd");
    if (!lxd) return { available: false, reason: "lxd is not installed", install: ["lxd (Debian 12: apt-get install lxd; scripts/setup-host.sh does)"] };
    const kvm = await access("/dev/kvm", constants.R_OK | constants.W_OK).then(() => "available, unused (instances are containers)", () => "absent: LXD VMs cannot run, containers can");
    return { available: true, details: { lxd, lxdDir: this.daemon.lxdDir, kvm } };
  }

  prepare(image: ImageRef, _spec: InstanceSpec): Promise<Prepared<LxdPrepared>> {
    if (image.kind !== "oci") throw new StrataError("INVALID_ARGUMENT", `the lxd driver runs OCI images, not ${image.kind}`);
    const key = `lxd:${image.path}:${image.digest}`;
    let entry = this.prepared.get(key);
    if (!entry) {
      entry = this.prepareImage(image, key);
      this.prepared.set(key, entry);
      entry.catch(() => this.prepared.delete(key));
    }
    return entry;
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
    this.prepared.delete(prepared.key);
  }

  async start(prepared: Prepared<LxdPrepared>, spec: InstanceSpec, io: InstanceIO): Promise<Instance> {
    const client = await this.daemon.ensure();
    const id = spec.instanceId;
    await this.cleanup(id); // leftovers of an earlier attempt with this id
    try {
      const { address, parent } = await attachNic(this.opts.network, id);
      const { prefix, gateway } = this.opts.network.subnet;
      const config: Record<string, string> = {
        [OWNER_KEY]: this.opts.home.tag,
        "limits.memory": `${spec.limits.memoryMb}MiB`,
        "limits.cpu.allowance": `${Math.max(1, Math.round(spec.limits.cpuMillis / 10))}ms/100ms`,
        "limits.processes": String(spec.limits.pids),
        "raw.lxc": addressConfig(address, prefix, gateway) + initConfig(prepared.data.image, spec),
        ...Object.fromEntries(
          [...prepared.data.image.env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]), ...Object.entries(spec.env)].map(([k, v]) => [`environment.${k}`, v]),
        ),
        ...prepared.data.config,
      };
      await client.run("POST", "/1.0/instances", {
        name: id,
        type: "container",
        source: { type: "image", alias: prepared.data.alias },
        config,
        devices: { eth0: { type: "nic", nictype: "physical", parent, name: "eth0" } },
      });
      await client.run("PUT", `/1.0/instances/${id}/state`, { action: "start", timeout: 60 });
      this.follow(client, id, io, 0);
      const handle: InstanceHandle = { id, driver: this.name, data: { v: 1, address, port: spec.port } };
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
    const state = await this.lxdState(client, instance.id);
    if (!state) return { status: "gone" };
    if (state.status === "Running") {
      return { status: "running", cpuMs: Math.round((state.cpu?.usage ?? 0) / 1e6), ...(state.memory?.usage && { memoryBytes: state.memory.usage }) };
    }
    // LXD keeps no exit status of a container's init: an instance that stopped on its own is reported ended, code unknown (-1).
    return { status: "exited", code: -1, reason: "exited" };
  }

  async exec(instance: Instance, argv: readonly string[], io: ExecIO): Promise<number> {
    const client = await this.daemon.ensure();
    const state = await this.lxdState(client, instance.id);
    if (state?.status !== "Running") throw new StrataError("INSTANCE_FAILED", `instance ${instance.id} is not running`, { instanceId: instance.id });
    // record-output: LXD keeps stdout and stderr as files of the instance, fetched once the command ends.
    const op = await client.run("POST", `/1.0/instances/${instance.id}/exec`, { command: argv, "record-output": true, interactive: false, "wait-for-websocket": false }, 3600);
    const meta = op.metadata as { return?: number; output?: Record<string, string> } | null;
    for (const [fd, path] of Object.entries(meta?.output ?? {})) {
      const text = await client.text(path);
      if (text) (fd === "2" ? io.stderr : io.stdout)(Buffer.from(text));
      await client.sync("DELETE", path).catch(() => undefined); // a log LXD already dropped is fine
    }
    return meta?.return ?? -1;
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    const data = HandleData.safeParse(handle.data);
    const client = await this.daemon.ensure();
    const state = await this.lxdState(client, handle.id);
    if (data.success && state?.status === "Running") {
      const console = await client.text(`/1.0/instances/${handle.id}/console`).catch(() => "");
      this.follow(client, handle.id, io, console.length);
      return { id: handle.id, driver: this.name, endpoint: { host: data.data.address, port: data.data.port }, handle };
    }
    await this.cleanup(handle.id);
    return null;
  }

  async sweep(keep: ReadonlySet<string>): Promise<void> {
    // No LXD of this home running: no instance of it either (a daemon that stops takes its containers
    // down), and every Strata start sweeps, so this does not start one.
    if (!(await this.daemon.client.alive())) return;
    const client = await this.daemon.ensure();
    const all = await client.get<Array<{ name: string; config: Record<string, string> }>>("/1.0/instances?recursion=1");
    for (const i of all) if (i.config[OWNER_KEY] === this.opts.home.tag && !keep.has(i.name)) await this.cleanup(i.name);
  }

  /** At Strata's shutdown: the LXD daemon ends when no instance is left in it. */
  async close(): Promise<void> {
    for (const tail of this.tails.values()) tail.stop();
    this.tails.clear();
    await this.daemon.shutdown();
  }

  private follow(client: LxdClient, id: string, io: InstanceIO, from: number): void {
    this.tails.get(id)?.stop();
    const tail = new ConsoleTail(client, id, from, io, (state) => {
      if (!this.stopping.has(id)) io.exited?.(state);
    });
    this.tails.set(id, tail);
    tail.start();
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
    this.tails.get(id)?.stop();
    this.tails.delete(id);
    const client = await this.daemon.ensure();
    const state = await this.lxdState(client, id);
    if (state && state.status !== "Stopped") {
      await client.run("PUT", `/1.0/instances/${id}/state`, { action: "stop", force: true }).catch((err: unknown) => {
        if (!/already stopped/i.test((err as Error).message)) throw err;
      });
    }
    if (state) await this.deleteInstance(client, id);
    await this.opts.network.detach(id);
  }
}

/**
 * LXC's init for an image that is not an OS: its entrypoint and working directory (the environment goes in
 * as LXD `environment.*` keys). An OS image (entrypoint /sbin/init) boots as it is.
 */
function initConfig(image: ImageProcess, spec: InstanceSpec): string {
  const argv = spec.command ?? image.entrypoint;
  if (argv.length === 1 && argv[0] === "/sbin/init") return "";
  return `lxc.init.cmd = ${argv.map(initArg).join(" ")}\nlxc.init.cwd = ${image.cwd}\n`;
}

/**
 * lxc.init.cmd is split at whitespace; quotes in it did not survive LXD's raw.lxc on LXD 5.0.2 (measured: a
 * quoted `sh -c` script arrived split at its first space), so an argument with whitespace or quotes is refused.
 */
function initArg(arg: string): string {
  if (/^[^\s"'\\]+$/.test(arg)) return arg;
  throw new StrataError("INVALID_ARGUMENT", `the lxd driver gives the command to LXC's lxc.init.cmd, which splits at whitespace: ${JSON.stringify(arg)} cannot be passed as one argument (use a script in the image)`);
}
