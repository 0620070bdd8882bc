import type { StrataHome } from "../../home.js";
import type { HostNetwork } from "../../net/index.js";
import type {
  ExecIO, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe, SandboxDriver, SnapshotOutcome,
} from "../driver.js";
import { guestCapabilities, writeJsonDisk } from "../guest/index.js";
import { MicrovmDriver } from "../microvm/index.js";
import { OciDriver } from "../oci/driver.js";
import { agentRunFor } from "./agent-run.js";
import { chooseKataMode, withMode, type KataMode } from "./probe.js";

export interface KataDriverOptions {
  readonly home: StrataHome;
  /** The one HostNetwork every driver shares: each instance's VM sits in its own namespace on the bridge. */
  readonly network: HostNetwork;
  /** Streams long first-use work (the guest init, a root disk). */
  readonly onProgress?: (line: string) => void;
  /** Use this way instead of choosing one (tests). */
  readonly mode?: KataMode;
  /**
   * Snapshot a version's first ready sandbox VM (container started, app listening) and restore later
   * ones from it instead of booting: the microvm driver's snapshots (config.yaml `microvm.snapshots`, which
   * kata follows). The agent gives a restored container its own hostname and /etc/hosts; the guest init
   * resets clock, entropy and network. Strata's agent only: kata-runtime has no snapshots here.
   */
  readonly snapshots?: boolean;
}

// Memory and pids: the container's cgroup inside the guest (and the guest's RAM); CPU: the VMM's cgroup quota.
const CAPABILITIES = guestCapabilities("vm-container", { cpu: true, pids: true });

/** The guest init's agent mode (init/agent.go). */
const AGENT_KERNEL_ARGS = ["strata.agent=oci"] as const;

/**
 * Kata Containers' design on Strata's microVM pieces: each instance is a sandbox VM (the shared guest
 * kernel and initramfs, QEMU microvm through the microvm driver's backend, QMP, network and lifecycle),
 * and the guest init, in agent mode, receives the container as Kata's agent does: the image's rootfs as a
 * read-only virtio block device (a Storage, as Kata's devicemapper path) and the OCI runtime spec. It runs
 * the container's process inside the guest, in mount, pid, uts and ipc namespaces of its own, pivoted into
 * the rootfs, as the image's user, under a memory cgroup. The microvm driver instead runs the image as the
 * guest's own workload.
 *
 * Where the host has Kata itself (kata-runtime) and a /dev/kvm that runs guests, the OCI driver hands the
 * bundle it makes to kata-runtime instead (the runtime's own OCI CLI, as runc's); `strata doctor` says
 * which of the two this host uses.
 */
export class KataDriver implements SandboxDriver {
  readonly name = "kata" as const;
  readonly capabilities = CAPABILITIES;
  private mode: Promise<KataMode> | undefined;
  private readonly agent: MicrovmDriver;
  private runtime: OciDriver | undefined;

  constructor(private readonly opts: KataDriverOptions) {
    this.agent = new MicrovmDriver({
      home: opts.home,
      network: opts.network,
      ...(opts.onProgress && { onProgress: opts.onProgress }),
      snapshots: opts.snapshots === true,
      profile: {
        name: this.name,
        capabilities: CAPABILITIES,
        kernelArgs: AGENT_KERNEL_ARGS,
        writeRunDisk: (path, { proc, spec, net }) => writeJsonDisk(path, agentRunFor(spec.instanceId, proc, spec, net)),
      },
    });
  }

  /** Decided once per driver: a host does not gain KVM or Kata while the daemon runs. */
  private chooseMode(): Promise<KataMode> {
    this.mode ??= this.opts.mode ? Promise.resolve(this.opts.mode) : chooseKataMode();
    this.mode.catch(() => (this.mode = undefined));
    return this.mode;
  }

  /** The driver that runs instances here: Strata's agent (microvm lifecycle) or the OCI driver with kata-runtime. */
  private async inner(): Promise<SandboxDriver & Required<Pick<SandboxDriver, "exec">>> {
    const mode = await this.chooseMode();
    if (mode.kind === "agent") return this.agent;
    this.runtime ??= new OciDriver({
      home: this.opts.home,
      network: this.opts.network,
      profile: {
        name: this.name,
        binary: async () => mode.binary,
        capabilities: CAPABILITIES,
        // Kata runs the container in its VM's own kernel: no user namespace on the host side.
        userNamespace: false,
        globalArgs: async () => [],
        probe: async () => ({ available: true, accelerated: true, details: { "kata-runtime": mode.binary } }), // it needs KVM
      },
    });
    return this.runtime;
  }

  async probe(): Promise<Probe> {
    const mode = await this.chooseMode();
    return withMode(await (await this.inner()).probe(), mode);
  }

  async prepare(image: ImageRef, spec: InstanceSpec): Promise<Prepared> {
    return (await this.inner()).prepare(image, spec);
  }

  /** The instance names how it runs, for `strata instances`: `qemu-tcg agent` (`, restored`), `qemu-kvm agent`, `kata-runtime`. */
  async start(prepared: Prepared, spec: InstanceSpec, io: InstanceIO): Promise<Instance> {
    const mode = await this.chooseMode();
    const instance = await (await this.inner()).start(prepared, spec, io);
    const [vmm, ...more] = (instance.detail ?? "qemu").split(", ");
    const detail = mode.kind === "agent" ? [`${vmm} agent`, ...more].join(", ") : "kata-runtime";
    const data = { ...(instance.handle.data as Record<string, unknown>), detail };
    return { ...instance, detail, handle: { ...instance.handle, data } };
  }

  async stop(instance: Instance, graceMs: number): Promise<void> {
    return (await this.inner()).stop(instance, graceMs);
  }

  async inspect(instance: Instance): Promise<InstanceState> {
    return (await this.inner()).inspect(instance);
  }

  /**
   * As Kata's ExecProcess: the agent runs argv inside the container's namespaces and cgroup, as its
   * user, with its env (the guest init's exec port); kata-runtime's own `exec` where the host has Kata.
   */
  async exec(instance: Instance, argv: readonly string[], io: ExecIO): Promise<number> {
    return (await this.inner()).exec(instance, argv, io);
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    const instance = await (await this.inner()).recover(handle, io);
    // The microvm lifecycle keeps the detail in its handle; the OCI driver's handle has no place for it.
    return instance && (await this.chooseMode()).kind === "runtime" ? { ...instance, detail: "kata-runtime" } : instance;
  }

  async sweep(keep: ReadonlySet<string>): Promise<void> {
    return (await this.inner()).sweep(keep);
  }

  async release(prepared: Prepared): Promise<void> {
    await (await this.inner()).release?.(prepared);
  }

  /** The sandbox VM's snapshot (Strata's agent, as the microvm driver takes it); kata-runtime's instances have none. */
  snapshotted(instance: Instance): Promise<SnapshotOutcome> | undefined {
    return this.agent.snapshotted(instance);
  }

  async close(): Promise<void> {
    await this.agent.close();
    await this.runtime?.close();
  }
}
