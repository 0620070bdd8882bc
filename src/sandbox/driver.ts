/**
 * The sandbox driver interface: one contract covers a V8 isolate and a Xen guest, as Nomad's task
 * drivers cover exec, docker and qemu. The scheduler, router and builder branch on `capabilities`,
 * never on a driver's name.
 */
export { DRIVER_NAMES, isDriverName, type DriverName } from "../config/index.js";
import type { DriverName } from "../config/index.js";
import type { ImageKind, ImageRef } from "../images/index.js";
export type { ImageKind, ImageRef } from "../images/index.js";

/** How strongly a tenant is separated from the host and from other tenants. */
export type IsolationKind =
  | "v8-isolate" // many tenants in one engine process
  | "container" // Linux namespaces + cgroups, host kernel
  | "user-space-kernel" // gVisor: syscalls served by a user-space kernel
  | "system-container" // LXC/LXD: a whole OS userland, host kernel
  | "microvm" // a minimal VM (Firecracker, Cloud Hypervisor)
  | "vm-container" // a container inside a lightweight VM (Kata)
  | "vm"; // a full virtual machine (QEMU/KVM, Xen)

export interface Capabilities {
  readonly isolation: IsolationKind;
  readonly imageKinds: readonly ImageKind[];
  /** Each instance gets its own network namespace on the Strata bridge. */
  readonly ownNetns: boolean;
  /** Many instances share one host process (so a per-instance kill is not a process kill). */
  readonly sharedProcess: boolean;
  readonly limits: { readonly memory: boolean; readonly cpu: boolean; readonly pids: boolean };
  /** recover() can re-adopt instances that outlived a daemon restart. */
  readonly recoverable: boolean;
  /** Order of magnitude of a cold start, for the scheduler's readiness timeouts. */
  readonly coldStart: "ms" | "sub-second" | "seconds";
  /** exec() runs a command inside a running instance (`strata exec`); absent means it cannot. */
  readonly exec?: boolean;
}

export interface Probe {
  readonly available: boolean;
  /** Why not, in words a user can act on. */
  readonly reason?: string;
  /** Packages or devices to install or enable. */
  readonly install?: readonly string[];
  /** Facts found (versions, chosen platform, paths), printed by `strata doctor`. */
  readonly details?: Readonly<Record<string, string>>;
  /** A VM-class driver runs its guests on hardware virtualization (KVM), not software emulation (TCG). */
  readonly accelerated?: boolean;
}

export interface InstanceLimits {
  readonly memoryMb: number;
  /** CPU share in millicores (1000 = one core). */
  readonly cpuMillis: number;
  readonly pids: number;
}

export interface InstanceSpec {
  /** Unique, DNS-safe, used in every resource name the driver creates. */
  readonly instanceId: string;
  readonly app: string;
  readonly version: string;
  /** The port the app listens on inside its sandbox (`PORT`). */
  readonly port: number;
  /** Complete environment for the app process (PORT, GAE_*, env_variables). */
  readonly env: Readonly<Record<string, string>>;
  readonly limits: InstanceLimits;
  /** Overrides of the image's entrypoint/cmd, if app.yaml gives one. */
  readonly command?: readonly string[];
  /** app.yaml `vm:`: the machine a full-VM driver boots (vCPUs, guest RAM, model, scratch disk); others ignore it. */
  readonly vm?: { readonly vcpus?: number; readonly memoryMb?: number; readonly machine?: "q35" | "pc"; readonly dataDiskMb?: number };
  /**
   * A function instance's Lambda Runtime API, host:port (also in env as AWS_LAMBDA_RUNTIME_API). A function
   * listens on no port; a VM-class driver may serve the API inside the guest and relay it here (microvm).
   */
  readonly runtimeApi?: string;
}

export interface InstanceIO {
  /** One line of the app's stdout or stderr, without its newline. */
  log(stream: "stdout" | "stderr", line: string): void;
  /**
   * The instance ended on its own (Nomad's WaitTask, pushed): a driver that can tell calls this once, as
   * soon as it knows (conmon's exit file, the isolate engine's exit), so the scheduler does not wait for
   * its health check. Not called for an instance being stop()ped.
   */
  exited?(state: EndedState): void;
}

/**
 * The per-version result of prepare(): cached and reused by every instance of that version. It lives in
 * memory only; `D` is the driver's own type (the scheduler hands it back to start() untouched).
 */
export interface Prepared<D = unknown> {
  readonly driver: DriverName;
  readonly key: string;
  readonly data: D;
}

/**
 * JSON-serializable: kept in the store so a restarted daemon can recover() the instance. `data` is the
 * driver's own, versioned (`v`), and read back through its schema (oci/handle.ts), never cast.
 */
export interface InstanceHandle {
  readonly id: string;
  readonly driver: DriverName;
  readonly data: Readonly<Record<string, unknown>>;
}

export type Endpoint = { readonly host: string; readonly port: number } | { readonly socket: string };

export interface Instance {
  readonly id: string;
  readonly driver: DriverName;
  readonly endpoint: Endpoint;
  readonly handle: InstanceHandle;
  /** How it runs, where a driver has more than one way (gVisor: platform and network stack), for `strata instances`. */
  readonly detail?: string;
  /** Started from a snapshot of an earlier instance rather than booted (a function's REPORT says Restore Duration). */
  readonly restored?: boolean;
}

export type ExitReason = "exited" | "oom-killed" | "killed" | "pids-limit";

export type InstanceState =
  | {
      readonly status: "running";
      readonly cpuMs?: number;
      readonly memoryBytes?: number;
      /** The most memory the instance has used since it started, where the driver can tell. */
      readonly peakMemoryBytes?: number;
      /** Processes the kernel killed for exceeding the memory limit while the instance kept running. */
      readonly oomKills?: number;
    }
  | { readonly status: "exited"; readonly code: number; readonly reason: ExitReason }
  | { readonly status: "gone" };

/** An instance that no longer runs. */
export type EndedState = Exclude<InstanceState, { status: "running" }>;

/** Where a command run by exec() writes, and how its caller gives up on it. */
export interface ExecIO {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
  /** Aborted when the caller went away: the command is killed. */
  readonly signal?: AbortSignal;
}

/** `P`: the driver's prepared data (Prepared<P>). */
export interface SandboxDriver<P = unknown> {
  readonly name: DriverName;
  readonly capabilities: Capabilities;
  /** Can this host run it? If not, why, and what to install. Never throws. */
  probe(): Promise<Probe>;
  /** Per version, cached: bundle, rootfs, VM disk. */
  prepare(image: ImageRef, spec: InstanceSpec): Promise<Prepared<P>>;
  /** Returns once the process exists; readiness is the scheduler's job. */
  start(prepared: Prepared<P>, spec: InstanceSpec, io: InstanceIO): Promise<Instance>;
  /** SIGTERM, wait up to graceMs, then kill; removes everything the instance created. Idempotent. */
  stop(instance: Instance, graceMs: number): Promise<void>;
  inspect(instance: Instance): Promise<InstanceState>;
  /** Re-adopt an instance after a daemon restart; null when it is gone (its leftovers are cleared). */
  recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null>;
  /** Remove every resource this driver owns whose instance id is not in `keep` (after a crash). */
  sweep(keep: ReadonlySet<string>): Promise<void>;
  /**
   * Runs argv inside a running instance, in its namespaces and with its environment (as the app's user;
   * a system container: as root), no stdin and no terminal; resolves to the command's exit code once its
   * output is delivered. Present exactly when `capabilities.exec` is true.
   */
  exec?(instance: Instance, argv: readonly string[], io: ExecIO): Promise<number>;
  /**
   * Drop per-version caches created by prepare(): called once per preparation, when its version stopped
   * serving and its last instance is gone. prepare() of the same image may come again, before or after.
   */
  release?(prepared: Prepared<P>): Promise<void>;
  /** Ends what the driver runs for all instances (an engine process); called at daemon shutdown. */
  close?(): Promise<void>;
  /**
   * The scheduler found the instance ready and has given it no work yet; awaited before it serves. A
   * driver that snapshots instances at that point (microvm, for a function: its runtime waits in
   * GET /runtime/invocation/next, as Lambda SnapStart snapshots after init) takes the snapshot here.
   */
  ready?(instance: Instance): Promise<void>;
  /**
   * A driver that snapshots a version's first booted instance (microvm, vm, kata with snapshots on): what
   * became of this instance's snapshot, once it is written, found already there, or given up; undefined
   * when none is being taken of it (snapshots off, a restored instance, another instance's under way).
   */
  snapshotted?(instance: Instance): Promise<SnapshotOutcome> | undefined;
}

/** What became of the snapshot of an instance that answered its first request (SandboxDriver.snapshotted). */
export type SnapshotOutcome =
  /** Written: `answeredMs` from the start to its first answer, `tookMs` for the snapshot itself, `bytes` on disk. */
  | { readonly kind: "taken"; readonly answeredMs: number; readonly tookMs: number; readonly bytes: number }
  /** The version already had one (from an earlier instance). */
  | { readonly kind: "exists" }
  | { readonly kind: "none"; readonly reason: string };
