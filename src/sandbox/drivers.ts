import type { StrataHome } from "../home.js";
import { HostNetwork } from "../net/index.js";
import type { SandboxDriver } from "./driver.js";
import { IsolateDriver } from "./isolate/index.js";
import { OciDriver } from "./oci/index.js";
import { GvisorDriver } from "./gvisor/index.js";
import { LxcDriver } from "./lxc/index.js";
import { LxdDriver } from "./lxd/index.js";
import { MicrovmDriver } from "./microvm/index.js";
import { VmDriver } from "./vm/index.js";
import { KataDriver } from "./kata/index.js";
import { XenDriver } from "./xen/index.js";

/** The drivers this Strata version ships, and what they share on the host. */
export interface Sandboxes {
  drivers: SandboxDriver[];
  /** After every driver's own sweep: clear shared host resources (the network) of instances not kept. */
  sweepShared(keep: ReadonlySet<string>): Promise<void>;
  /** At a clean shutdown, once every instance has stopped: remove the bridge and its firewall tables. */
  closeShared(): Promise<void>;
  /**
   * Opens a TCP port on the host's bridge address to instances (a service the host offers them, such
   * as Lambda's Runtime API) and returns that address, for the service to listen on.
   */
  offerHostService(port: number): Promise<string>;
}

export interface SandboxOptions {
  /** Told of trouble that costs speed, not correctness (a spare network namespace that could not be made). */
  onWarning?: (message: string) => void;
  /** config.yaml `isolate.max-request-body-mb`, in bytes (else the isolate driver's default). */
  isolateMaxRequestBodyBytes?: number;
  /** config.yaml `isolate.engines` (else the isolate driver's default). */
  isolateEngines?: number;
  /** config.yaml `microvm.snapshots`: restore a version's later microVMs (and kata sandbox VMs) from its first one's snapshot. */
  microvmSnapshots?: boolean;
  /** config.yaml `microvm.snapshot-disk-mb`: what those snapshots may take on disk (else the driver's default). */
  microvmSnapshotDiskMb?: number;
  /** config.yaml `vm.snapshots`: the same for the vm driver's full VMs. */
  vmSnapshots?: boolean;
}

/** Constructs the drivers. Constructors do no I/O; the network is set up on first use. */
export function createSandboxes(home: StrataHome, opts: SandboxOptions = {}): Sandboxes {
  // One bridge and address pool for every driver whose instances get their own network namespace.
  const network = new HostNetwork(home, { ...(opts.onWarning && { onWarning: opts.onWarning }) });
  return {
    drivers: [
      new OciDriver({ home, runtime: "runc", network }),
      new OciDriver({ home, runtime: "crun", network }),
      new GvisorDriver({ home, network }),
      new LxcDriver({ home, network }),
      new LxdDriver({ home, network }),
      new VmDriver({ home, network, snapshots: opts.vmSnapshots === true }),
      new MicrovmDriver({
        home, network, snapshots: opts.microvmSnapshots === true,
        ...(opts.microvmSnapshotDiskMb !== undefined && { snapshotDiskMb: opts.microvmSnapshotDiskMb }),
      }),
      new KataDriver({ home, network, snapshots: opts.microvmSnapshots === true }),
      new XenDriver({ home, network }),
      new IsolateDriver({
        home,
        ...(opts.isolateMaxRequestBodyBytes !== undefined && { maxRequestBodyBytes: opts.isolateMaxRequestBodyBytes }),
        ...(opts.isolateEngines !== undefined && { engines: opts.isolateEngines }),
      }),
    ],
    sweepShared: (keep) => network.sweep(new Set(keep)),
    offerHostService: async (port) => {
      await network.offerService(port);
      return network.gateway;
    },
    closeShared: async () => {
      await network.removeSpares(); // made for this daemon's next starts; the next daemon makes its own
      if ((await network.attachedIds()).length === 0) await network.teardown();
    },
  };
}
