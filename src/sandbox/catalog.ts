import { StrataError } from "../errors.js";
import type { StrataHome } from "../home.js";
import { DRIVER_NAMES, isDriverName, type DriverName, type IsolationKind, type Probe, type SandboxDriver } from "./driver.js";
import { HOST_PROBES } from "./host-probes.js";
import { ACCELERATED_SANDBOX, DEFAULT_SANDBOX } from "./runtime-defaults.js";
import { createSandboxes, type Sandboxes } from "./drivers.js";

/** What `strata doctor` prints for one driver. */
export interface DriverReport extends Probe {
  driver: DriverName;
  implemented: boolean;
  isolation: IsolationKind | string;
}

const PLANNED_ISOLATION: Record<DriverName, IsolationKind> = {
  runc: "container",
  crun: "container",
  gvisor: "user-space-kernel",
  isolate: "v8-isolate",
  microvm: "microvm",
  lxc: "system-container",
  lxd: "system-container",
  vm: "vm",
  kata: "vm-container",
  xen: "vm",
  k8s: "container",
};

/** The drivers this daemon runs, plus the host checks for every driver Strata knows of. */
export class DriverCatalog {
  private readonly drivers: ReadonlyMap<DriverName, SandboxDriver>;
  private readonly probes = new Map<DriverName, Promise<Probe>>();

  constructor(private readonly sandboxes: Sandboxes) {
    this.drivers = new Map(sandboxes.drivers.map((d) => [d.name, d]));
  }

  /** Ends what drivers run for all instances (engines) and what they share on the host (the bridge). */
  async close(): Promise<void> {
    for (const d of this.drivers.values()) await d.close?.();
    await this.sandboxes.closeShared();
  }

  /** Clears every driver's leftovers whose instance id is not in `keep` (after a crash or kill -9). */
  async sweep(keep: ReadonlySet<string>): Promise<void> {
    for (const d of this.drivers.values()) await d.sweep(keep);
    await this.sandboxes.sweepShared(keep);
  }

  /** Opens a port on the host's bridge address to instances (Sandboxes.offerHostService); returns the address. */
  offerHostService(port: number): Promise<string> {
    return this.sandboxes.offerHostService(port);
  }

  /** The driver of that name (a stored record keeps the name as text). */
  get(name: string): SandboxDriver | undefined {
    return isDriverName(name) ? this.drivers.get(name) : undefined;
  }

  all(): SandboxDriver[] {
    return [...this.drivers.values()];
  }

  /** A driver's probe, cached for the daemon's life (hosts do not grow KVM while we run). */
  probe(name: DriverName): Promise<Probe> {
    let p = this.probes.get(name);
    if (!p) {
      const d = this.drivers.get(name);
      const hostProbe = (HOST_PROBES as Partial<Record<DriverName, () => Promise<Probe>>>)[name];
      p = d ? d.probe() : hostProbe ? hostProbe() : Promise.resolve({ available: false, reason: "not implemented" });
      this.probes.set(name, p);
    }
    return p;
  }

  async report(): Promise<DriverReport[]> {
    return Promise.all(
      DRIVER_NAMES.map(async (name) => {
        const d = this.drivers.get(name);
        const probe = await this.probe(name);
        return {
          driver: name,
          implemented: d !== undefined,
          isolation: d?.capabilities.isolation ?? PLANNED_ISOLATION[name],
          ...probe,
          ...(d === undefined && probe.available && { available: false, reason: "the host has what it needs, but this Strata version has no driver for it yet" }),
        };
      }),
    );
  }

  /**
   * The sandbox for a version: app.yaml `sandbox:` if given (it must be runnable here), else the first
   * runnable default for its language (a VM-class one first where it runs on KVM: ACCELERATED_SANDBOX). Fails
   * with the probe's reason, so the user knows what to install.
   */
  async choose(language: string, requested: DriverName | undefined): Promise<SandboxDriver> {
    if (requested) {
      const d = this.drivers.get(requested);
      const probe = await this.probe(requested);
      if (!d) throw new StrataError("SANDBOX_UNAVAILABLE", `sandbox "${requested}" is not available in this Strata version (${probe.reason ?? "no driver"})`);
      if (!probe.available) {
        throw new StrataError("SANDBOX_UNAVAILABLE", `sandbox "${requested}" cannot run on this host: ${probe.reason}${probe.install?.length ? ` (install: ${probe.install.join(", ")})` : ""}`, { driver: requested, install: probe.install });
      }
      return d;
    }
    for (const name of ACCELERATED_SANDBOX[language] ?? []) {
      const d = this.drivers.get(name);
      const probe = await this.probe(name);
      if (d && probe.available && probe.accelerated) return d;
    }
    const prefs = DEFAULT_SANDBOX[language];
    if (!prefs) throw new StrataError("UNSUPPORTED_RUNTIME", `no sandbox is known for ${language} apps`);
    const reasons: string[] = [];
    for (const name of prefs) {
      const d = this.drivers.get(name);
      const probe = await this.probe(name);
      if (d && probe.available) return d;
      reasons.push(`${name}: ${d ? probe.reason : "not in this Strata version"}`);
    }
    throw new StrataError("SANDBOX_UNAVAILABLE", `no sandbox for ${language} apps can run on this host (${reasons.join("; ")}); see strata doctor`);
  }
}

/** Probes this host without a daemon (for `strata doctor` when none is running). */
export async function probeAll(home: StrataHome): Promise<DriverReport[]> {
  return new DriverCatalog(createSandboxes(home)).report();
}

export { DEFAULT_SANDBOX };
