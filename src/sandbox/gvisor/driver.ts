import { join } from "node:path";
import type { StrataHome } from "../../home.js";
import type { HostNetwork } from "../../net/index.js";
import type {
  Capabilities, ExecIO, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe, SandboxDriver,
} from "../driver.js";
import { OciDriver } from "../oci/driver.js";
import { choosePlatform, type GvisorPlatform, type PlatformChoice } from "./platform.js";
import { probeGvisor } from "./probe.js";
import { applyHostPidsBudget, taskBudget } from "./resources.js";
import { runscBinary, STRATA_RUNSC } from "./runsc.js";
import { StartNamespace } from "./start-namespace.js";
import type { OciPrepared } from "../oci/handle.js";
import { GvisorHandleData } from "./handle.js";
import { unmountNullNetns } from "./null-netns.js";

export type GvisorNetStack = "netstack" | "host";

export interface GvisorDriverOptions {
  readonly home: StrataHome;
  /** The one HostNetwork every driver shares: each instance gets its own namespace on the Strata bridge. */
  readonly network: HostNetwork;
  /** Use this platform instead of choosing one (kvm, then systrap, then ptrace). */
  readonly platform?: GvisorPlatform;
  /**
   * The app's network stack: "host", the host kernel's inside the instance's namespace (the default with
   * the pinned runsc), or "netstack", gVisor's own (the default with Debian's runsc); see below. Either
   * way each instance has its own namespace on the Strata bridge.
   */
  readonly netStack?: GvisorNetStack;
  /** conmon starts a new log file past this size (default 16 MiB). */
  readonly logSizeMax?: number;
  /**
   * systrap's fast path (default off): sentry and stub threads spin for the next system call instead of
   * sleeping. Its controller weighs switch latency only, while every instance runs under a CPU quota that
   * the spinning is charged to (the sentry counts on ~1 core for its dispatcher alone); see below.
   */
  readonly systrapFastPath?: boolean;
}

const CAPABILITIES: Capabilities = Object.freeze({
  isolation: "user-space-kernel",
  imageKinds: Object.freeze(["oci"] as const),
  ownNetns: true,
  sharedProcess: false,
  // memory and cpu: the sandbox's host cgroup; pids: a host task budget (resources.ts).
  limits: Object.freeze({ memory: true, cpu: true, pids: true }),
  recoverable: true,
  coldStart: "sub-second",
  exec: true,
});

/**
 * gVisor instances: runsc runs the bundle the OCI driver generates (same overlay root, /tmp, hosts file,
 * cgroup v1 limits, capabilities, no-new-privileges, seccomp profile) with conmon as the holder, so stdout,
 * stderr, exit status and recovery work exactly as for runc: this driver is the OCI driver with a runsc
 * profile. The app's system calls are served by gVisor's sentry (its /proc/version is gVisor's).
 *
 * What differs, measured on kernel 6.18 with the pinned runsc (setup-host.sh) and Debian's 2022-12-19:
 * - Network: each instance's own namespace from HostNetwork either way; the bridge's egress policy applies.
 *   "host" (--network=host inside that namespace): the sentry makes the app's network syscalls on the host
 *   kernel, in that namespace only. "netstack" (--network=sandbox): runsc moves the veth's address into the
 *   sandbox and gVisor's own TCP/IP stack speaks raw frames on it, so the app's sockets never become host
 *   sockets (a smaller host-kernel surface, paid for in speed). Default by the numbers: with the pinned runsc
 *   on systrap, bench/gvisor.ts (examples/go-app, same run, quiet host) measured host vs netstack p50 747
 *   vs 962 µs, 5409 vs 2623 req/s (a loaded host: 766 vs 1562 µs, 1348 vs 1089 req/s), and busybox httpd
 *   answered 300 of 300 first requests on both, so the pinned runsc defaults to "host". Debian's runsc defaults to netstack: its host-socket layer
 *   returns EAGAIN to a blocking read() on an accepted socket whose data has not arrived yet (~1 in 16 first
 *   requests to busybox httpd closed), and its netstack needs start-namespace.ts.
 * - No user namespace: a bundle with one fails to boot ("error setting up chroot: error converting mounts:
 *   operation not permitted"). runsc isolates without it: the sentry runs chrooted into an empty dir with
 *   only CAP_SYS_PTRACE and a seccomp filter, the gofer (the only part that opens files) chrooted into the
 *   rootfs with a few file capabilities. So instances use the unpacked layers as they are: no uid-shifted
 *   copies, and /sys is gVisor's synthetic sysfs, never the host's.
 * - --oci-seccomp: the bundle's seccomp profile is enforced by the sentry on the app's syscalls.
 * - pids: the host cgroup counts sandbox threads and platform stubs, not app processes (resources.ts).
 * - CPU: sentry, gofer and systrap stubs run in the instance's cgroup, so they share the app's cpuMillis
 *   quota (as runc's app does with the kernel work of its own syscalls). systrap's fast path is off unless
 *   asked for: its controller enables spinning when it lowers switch latency, blind to the quota it burns.
 *   bench/gvisor.ts, 2 cores, quota 1 CPU: quiet host 7067 vs 5437 req/s (139 vs 183 µs of cgroup CPU per
 *   request, p50 489 vs 480 µs); loaded host, five alternating pairs, off ahead in all five (e.g. 4751 vs 1743).
 *   Where the rest goes (2026-12-06, loaded host): ~75% of the instance's CPU is host-kernel time, nearly
 *   all of it context switches. The Go app makes ~3.6 system calls per request (read 1.3, write 1, its
 *   runtime's sysmon nanosleep 0.7, futex 0.4, epoll 0.1), each a sentry <-> stub handoff, and the cgroup
 *   counts 7-12 context switches per request against runc's 1-2. No other flag of this runsc shortens that
 *   path (checked: debug, strace, profile off; directfs and overlay2 do not touch sockets; gso is netstack's;
 *   --cpu-num-from-quota already gives the app 2 CPUs, its floor; --systrap-disable-syscall-patching and a
 *   cpuset of one CPU measured worse). GOMAXPROCS=1 for the app lowered it in some runs (median of three
 *   pairs at load ~4: 140 vs 175 µs) and not in others (bench/results/2026-12-06T05-30-17-gvisor.md, load
 *   ~8: 200 vs 185), but costs runc's app a sixth of its throughput (one thread leaves quota unused), so
 *   Go's own choice stays (1.25+ picks 2 for a 1-CPU quota, as runsc shows the app 2 CPUs).
 */
export class GvisorDriver implements SandboxDriver<OciPrepared> {
  readonly name = "gvisor" as const;
  readonly capabilities = CAPABILITIES;
  private readonly oci: OciDriver;
  private readonly startNamespace: StartNamespace;
  private choice: Promise<PlatformChoice> | undefined;
  private runsc: Promise<string> | undefined;

  constructor(private readonly opts: GvisorDriverOptions) {
    this.startNamespace = new StartNamespace(opts.home.runtime("gvisor"));
    this.oci = new OciDriver({
      home: opts.home,
      network: opts.network,
      logSizeMax: opts.logSizeMax,
      profile: {
        name: this.name,
        binary: () => this.binary(),
        capabilities: CAPABILITIES,
        userNamespace: false,
        globalArgs: async () => [
          `--platform=${(await this.platform()).platform}`,
          (await this.netStack()) === "host" ? "--network=host" : "--network=sandbox",
          "--oci-seccomp",
          // The app sees as many CPUs as its quota allows (at least 2), so runtimes size their thread pools to it.
          "--cpu-num-from-quota",
          ...((await this.platform()).platform === "systrap" && !opts.systrapFastPath ? ["--systrap-disable-fast-path"] : []),
        ],
        probe: async () => probeGvisor(await this.binary(), () => this.platform(), await this.netStack()),
        adjustConfig: async (config, spec) => {
          const budget = taskBudget((await this.platform()).platform, (await this.binary()) === STRATA_RUNSC);
          applyHostPidsBudget(config, spec.limits.pids, budget);
        },
        // Only Debian's runsc misreads the instance's namespace as the root one (start-namespace.ts).
        startPrefix: async () => ((await this.netStack()) === "host" || (await this.binary()) === STRATA_RUNSC ? [] : this.startNamespace.prefix()),
      },
    });
  }

  /** The platform runsc runs on: the option, else the fastest this host offers (decided once). */
  platform(): Promise<PlatformChoice> {
    this.choice ??= this.opts.platform
      ? Promise.resolve({ platform: this.opts.platform, why: "set in the driver's options" })
      : this.binary().then(choosePlatform);
    this.choice.catch(() => (this.choice = undefined)); // retried next time
    return this.choice;
  }

  /**
   * The option, else the host's stack with the pinned runsc (measured faster, see above) and netstack with
   * Debian's (whose host-socket layer drops first requests).
   */
  private async netStack(): Promise<GvisorNetStack> {
    return this.opts.netStack ?? ((await this.binary()) === STRATA_RUNSC ? "host" : "netstack");
  }

  /** Strata's pinned runsc when installed, else the host's (decided once per driver). */
  private binary(): Promise<string> {
    this.runsc ??= runscBinary();
    return this.runsc;
  }

  async probe(): Promise<Probe> {
    return this.oci.probe();
  }

  prepare(image: ImageRef, spec: InstanceSpec): Promise<Prepared<OciPrepared>> {
    return this.oci.prepare(image, spec);
  }

  /** The OCI driver's instance, with the platform and network stack it runs on (kept in the handle for recover()). */
  async start(prepared: Prepared<OciPrepared>, spec: InstanceSpec, io: InstanceIO): Promise<Instance> {
    const detail = `${(await this.platform()).platform}, ${await this.netStack()}`;
    const instance = await this.oci.start(prepared, spec, io);
    return { ...instance, detail, handle: { ...instance.handle, data: { ...instance.handle.data, detail } } };
  }

  stop(instance: Instance, graceMs: number): Promise<void> {
    return this.oci.stop(instance, graceMs);
  }

  inspect(instance: Instance): Promise<InstanceState> {
    return this.oci.inspect(instance);
  }

  /** `runsc exec`: the command runs inside the sandbox, its system calls served by the sentry too. */
  exec(instance: Instance, argv: readonly string[], io: ExecIO): Promise<number> {
    return this.oci.exec(instance, argv, io);
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    const instance = await this.oci.recover(handle, io);
    if (!instance) return null;
    // The OCI driver read back its own fields (and dropped the rest): the detail goes back into the handle.
    const data = GvisorHandleData.safeParse(handle.data);
    const detail = data.success ? data.data.detail : undefined;
    return detail === undefined ? instance : { ...instance, detail, handle: { ...instance.handle, data: { ...instance.handle.data, detail } } };
  }

  sweep(keep: ReadonlySet<string>): Promise<void> {
    return this.oci.sweep(keep);
  }

  release(prepared: Prepared<OciPrepared>): Promise<void> {
    return this.oci.release(prepared);
  }

  /**
   * Removes the start namespace, runsc's pinned gofer network namespace and empty parent cgroups; instances
   * keep running (they need none of them).
   */
  async close(): Promise<void> {
    await this.startNamespace.close();
    await unmountNullNetns(join(this.opts.home.runtime("gvisor"), "state"));
    await this.oci.close();
  }
}
