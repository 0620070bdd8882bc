import type { Probe } from "../driver.js";
import type { VmmBackend, VmSpec } from "./backend.js";

/**
 * Firecracker when its probe says it runs here (a /dev/kvm that runs guests, the binary, and the driver's
 * channels over vsock), else QEMU; decided once per driver, at first use (the KVM verdict it rests on is
 * kept until reboot, so VMs a daemon re-adopts were started by the same backend).
 */
export class ChosenBackend implements VmmBackend {
  private choice: Promise<VmmBackend> | undefined;

  constructor(readonly firecracker: VmmBackend, private readonly qemu: VmmBackend) {}

  private chosen(): Promise<VmmBackend> {
    this.choice ??= this.firecracker.probe().then((p) => (p.available ? this.firecracker : this.qemu));
    this.choice.catch(() => (this.choice = undefined));
    return this.choice;
  }

  async detail(): Promise<string> { return (await this.chosen()).detail(); }
  async emulatesCpu(): Promise<boolean> { return (await this.chosen()).emulatesCpu(); }
  async probe(): Promise<Probe> { return (await this.chosen()).probe(); }
  async launch(vm: VmSpec): Promise<number> { return (await this.chosen()).launch(vm); }
  async kill(dir: string, pid: number): Promise<void> { return (await this.chosen()).kill(dir, pid); }
  async snapshot(dir: string, file: string, signal: AbortSignal): Promise<void> { return (await this.chosen()).snapshot(dir, file, signal); }
  async resume(dir: string): Promise<void> { return (await this.chosen()).resume(dir); }

  async adopt(dir: string, pid: number): Promise<void> {
    await (await this.chosen()).adopt?.(dir, pid);
  }

  /** Only a backend already chosen holds anything; a choice that failed holds nothing. */
  async close(): Promise<void> {
    const chosen = await this.choice?.catch(() => undefined);
    await chosen?.close?.();
  }
}
